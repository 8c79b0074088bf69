//! EmoBank (Buechel & Hahn 2017, CC BY-SA 4.0): sentences with valence, arousal and dominance
//! on 1–5 and an official train/dev/test split. Columns `id,split,V,A,D,text`.

use std::collections::HashMap;
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

/// The per-annotator rating files EmoBank ships beside `emobank.csv` (columns `id,V,A,D`, one
/// row per rating), by perspective.
pub const PERSPECTIVE_FILES: [&str; 2] = ["individual_reader_ratings.csv", "individual_writer_ratings.csv"];

/// Each sentence's mean reader and mean writer ratings, mapped to [-1, 1]: reader V, A, D, then
/// writer V, A, D. Read from [`PERSPECTIVE_FILES`] in the folder of `emobank_csv`.
pub fn read_perspectives(emobank_csv: &Path) -> Result<HashMap<String, [f32; 6]>, AcquireError> {
    let folder = emobank_csv.parent().unwrap_or(Path::new("."));
    let mut sums: HashMap<String, [(f32, u32); 6]> = HashMap::new();
    for (perspective, file) in PERSPECTIVE_FILES.into_iter().enumerate() {
        let path = folder.join(file);
        let data_error = |line: u64, message: String| AcquireError::Data { path: path.clone(), line, message };
        let mut reader = csv::Reader::from_path(&path).map_err(|e| data_error(0, e.to_string()))?;
        let headers = reader.headers().map_err(|e| data_error(1, e.to_string()))?.clone();
        for record in reader.records() {
            let record = record.map_err(|e| data_error(e.position().map_or(0, csv::Position::line), e.to_string()))?;
            let line = record.position().map_or(0, csv::Position::line);
            let row: Rating = record.deserialize(Some(&headers)).map_err(|e| data_error(line, e.to_string()))?;
            let ratings = [row.v, row.a, row.d];
            if ratings.iter().any(|r| !(1.0..=5.0).contains(r)) {
                return Err(data_error(line, format!("{}: ratings must be in 1–5", row.id)));
            }
            let sums = sums.entry(row.id).or_default();
            for (k, rating) in ratings.into_iter().enumerate() {
                let (sum, count) = &mut sums[3 * perspective + k];
                *sum += rating;
                *count += 1;
            }
        }
    }
    Ok(sums
        .into_iter()
        .filter(|(_, sums)| sums.iter().all(|&(_, count)| count > 0))
        .map(|(id, sums)| (id, sums.map(|(sum, count)| to_unit(sum / count as f32))))
        .collect())
}

#[derive(serde::Deserialize)]
struct Rating {
    id: String,
    #[serde(rename = "V")]
    v: f32,
    #[serde(rename = "A")]
    a: f32,
    #[serde(rename = "D")]
    d: f32,
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

    #[test]
    fn perspectives_average_each_sides_raters_and_need_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("emobank.csv");
        let missing = read_perspectives(&csv).unwrap_err().to_string();
        assert!(missing.contains(PERSPECTIVE_FILES[0]), "{missing}");
        let [reader, writer] = PERSPECTIVE_FILES.map(|f| dir.path().join(f));
        crate::fsutil::write_atomic(
            &reader,
            b"id,V,A,D
a,5,3,1
a,4,3,1
b,3,3,3
",
        )
        .unwrap();
        crate::fsutil::write_atomic(
            &writer,
            b"id,V,A,D
a,1,2,3
",
        )
        .unwrap();
        let perspectives = read_perspectives(&csv).unwrap();
        assert_eq!(perspectives.len(), 1, "b has no writer ratings");
        assert_eq!(perspectives["a"], [0.75, 0.0, -1.0, -1.0, -0.5, 0.0]);
        crate::fsutil::write_atomic(
            &writer,
            b"id,V,A,D
a,1,2,9
",
        )
        .unwrap();
        let err = read_perspectives(&csv).unwrap_err().to_string();
        assert!(err.contains("individual_writer_ratings.csv:2") && err.contains("1–5"), "{err}");
    }
}
