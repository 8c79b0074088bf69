//! EmoBank (Buechel & Hahn 2017, CC BY-SA 4.0): sentences with valence, arousal and dominance
//! on 1–5 and an official train/dev/test split. Columns `id,split,V,A,D,text`.

use std::path::Path;

use crate::acquire::AcquireError;

/// One sentence with its VAD mapped from 1–5 to [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct EmoBankSentence {
    pub id: String,
    pub split: String,
    pub text: String,
    /// Valence, arousal, dominance in [-1, 1].
    pub vad: [f32; 3],
}

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    split: String,
    #[serde(rename = "V")]
    v: f32,
    #[serde(rename = "A")]
    a: f32,
    #[serde(rename = "D")]
    d: f32,
    text: String,
}

/// Maps EmoBank's 1–5 scale to [-1, 1].
pub fn to_unit(rating: f32) -> f32 {
    (rating - 3.0) / 2.0
}

/// Reads the sentences of `split` (`train`, `dev`, `test`), or all when `split` is `None`.
/// Rows with an empty text are skipped; a malformed row or a rating off 1–5 is an error naming
/// the file and line.
pub fn read(path: &Path, split: Option<&str>) -> Result<Vec<EmoBankSentence>, AcquireError> {
    let data_error = |line: u64, message: String| AcquireError::Data { path: path.to_path_buf(), line, message };
    let mut reader = csv::Reader::from_path(path).map_err(|e| data_error(0, e.to_string()))?;
    let headers = reader.headers().map_err(|e| data_error(1, e.to_string()))?.clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| data_error(e.position().map_or(0, csv::Position::line), e.to_string()))?;
        let line = record.position().map_or(0, csv::Position::line);
        let row: Row = record.deserialize(Some(&headers)).map_err(|e| data_error(line, e.to_string()))?;
        if split.is_some_and(|s| s != row.split) || row.text.trim().is_empty() {
            continue;
        }
        if [row.v, row.a, row.d].iter().any(|r| !(1.0..=5.0).contains(r)) {
            return Err(data_error(line, format!("{}: ratings must be in 1–5", row.id)));
        }
        out.push(EmoBankSentence {
            id: row.id,
            split: row.split,
            text: row.text,
            vad: [to_unit(row.v), to_unit(row.a), to_unit(row.d)],
        });
    }
    if out.is_empty() {
        return Err(data_error(0, format!("no sentences in split {}", split.unwrap_or("(any)"))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_map_to_the_unit_range_and_bad_rows_name_file_and_line() {
        assert_eq!((to_unit(1.0), to_unit(3.0), to_unit(5.0)), (-1.0, 0.0, 1.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eb.csv");
        crate::fsutil::write_atomic(
            &path,
            b"id,split,V,A,D,text\na,train,3,3,3,fine\nb,dev,4,2,3,\"good, \"\"really\"\"\"\nc,dev,3,3,3,\n",
        )
        .unwrap();
        let dev = read(&path, Some("dev")).unwrap();
        assert_eq!(dev.len(), 1, "the empty text is skipped");
        assert_eq!((dev[0].text.as_str(), dev[0].vad), ("good, \"really\"", [0.5, -0.5, 0.0]));
        assert_eq!(read(&path, None).unwrap().len(), 2);
        assert!(read(&path, Some("test")).unwrap_err().to_string().contains("no sentences"));
        crate::fsutil::write_atomic(&path, b"id,split,V,A,D,text\na,train,3,3,3,fine\nb,train,7,3,3,bad\n").unwrap();
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("eb.csv:3") && err.contains("1–5"), "{err}");
    }
}
