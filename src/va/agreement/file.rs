//! Ratings from a CSV file with a header row, one rating per row: a unit column, a value
//! column and optionally a rater column (what `univa agreement` reads).
//!
//! Errors name the file, the row and the column. Rows are counted as **data rows from 1**, the
//! header not counted, and the file line is given beside it (they differ by one, more when a
//! quoted cell spans lines): `ratings.csv: row 3 (line 4), column "V": "x" is not a number`.

use std::path::{Path, PathBuf};

use super::{Agreement, AgreementError, AgreementReport, Rating, RatingSums};

/// Which columns hold what.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    pub unit: String,
    pub value: String,
    pub rater: Option<String>,
}

/// Where in the file: a 1-based data row and its file line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    pub row: usize,
    pub line: u64,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {} (line {})", self.row, self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RatingsFileError {
    // The inner errors are fields, not `#[source]`s: the message already holds them, and
    // `{:#}` would print them twice.
    #[error("{}: cannot read: {error}", path.display())]
    Open { path: PathBuf, error: csv::Error },
    #[error("{}: the file is empty (no header row)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: there is a header but no ratings (no data rows)", path.display())]
    NoRows { path: PathBuf },
    #[error("{}: there is no column {column:?} (the header has {})", path.display(), found.join(", "))]
    MissingColumn { path: PathBuf, column: String, found: Vec<String> },
    #[error("{}: {at}: malformed CSV: {error}", path.display())]
    Malformed { path: PathBuf, at: Row, error: csv::Error },
    #[error("{}: {at}, column {column:?}: {cell:?} is not a number", path.display())]
    NotANumber { path: PathBuf, at: Row, column: String, cell: String },
    #[error("{}: {at}, column {column:?}: the cell is empty", path.display())]
    EmptyCell { path: PathBuf, at: Row, column: String },
    #[error("{}: rows {first} and {second}, column {column:?}: rater {rater:?} rated unit {unit:?} twice", path.display())]
    Duplicate { path: PathBuf, first: usize, second: usize, column: String, rater: String, unit: String },
    #[error("{}, column {column:?}: {problem}", path.display())]
    Agreement { path: PathBuf, column: String, problem: AgreementError },
}

/// The longest cell or column name an error quotes whole.
const QUOTED_MAX: usize = 60;
/// The most column names an error lists.
const COLUMNS_SHOWN: usize = 12;

/// `text`, or its start and its length when it is too long to quote in a message.
fn cut(text: &str) -> String {
    if text.len() <= QUOTED_MAX {
        return text.to_owned();
    }
    let end = (0..=QUOTED_MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// The header's column names for a message: the first few, each cut, and how many more.
fn shown_columns(header: &csv::StringRecord) -> Vec<String> {
    let mut shown: Vec<String> = header.iter().take(COLUMNS_SHOWN).map(|h| format!("{:?}", cut(h))).collect();
    if header.len() > COLUMNS_SHOWN {
        shown.push(format!("and {} more", header.len() - COLUMNS_SHOWN));
    }
    shown
}

/// Reads the ratings, one per data row and in file order (so rating i is data row i + 1).
/// Holds every row: [`agreement_of_file`] and [`report_of_file`] stream instead.
pub fn read_ratings(path: &Path, columns: &Columns) -> Result<Vec<Rating>, RatingsFileError> {
    let mut ratings = Vec::new();
    for_each_rating(path, columns, |unit, rater, value| {
        ratings.push(Rating { unit: unit.to_owned(), rater: rater.map(str::to_owned), value });
    })?;
    Ok(ratings)
}

/// Calls `each` with every rating (unit, rater, value), one data row at a time in file order,
/// borrowed from the row just read; an error for a file with no data rows.
pub fn for_each_rating(
    path: &Path,
    columns: &Columns,
    mut each: impl FnMut(&str, Option<&str>, f64),
) -> Result<(), RatingsFileError> {
    let open = |error| RatingsFileError::Open { path: path.to_path_buf(), error };
    let mut reader = csv::Reader::from_path(path).map_err(open)?;
    let header = reader.headers().map_err(open)?.clone();
    if header.is_empty() || (header.len() == 1 && header.get(0).is_some_and(|h| h.trim().is_empty())) {
        return Err(RatingsFileError::Empty { path: path.to_path_buf() });
    }
    let find = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| RatingsFileError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_owned(),
            found: shown_columns(&header),
        })
    };
    let unit_at = find(&columns.unit)?;
    let value_at = find(&columns.value)?;
    let rater_at = columns.rater.as_deref().map(find).transpose()?;
    let mut rows = 0;
    let mut record = csv::StringRecord::new();
    loop {
        let at = Row { row: rows + 1, line: reader.position().line() };
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                let line = error.position().map_or(at.line, csv::Position::line);
                return Err(RatingsFileError::Malformed { path: path.to_path_buf(), at: Row { line, ..at }, error });
            }
        }
        let at = Row { line: record.position().map_or(at.line, csv::Position::line), ..at };
        let cell = |index: usize, column: &str| {
            let text = record.get(index).unwrap_or_default().trim();
            if text.is_empty() {
                Err(RatingsFileError::EmptyCell { path: path.to_path_buf(), at, column: column.to_owned() })
            } else {
                Ok(text)
            }
        };
        let unit = cell(unit_at, &columns.unit)?;
        let value_text = record.get(value_at).unwrap_or_default().trim();
        let value =
            value_text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| RatingsFileError::NotANumber {
                path: path.to_path_buf(),
                at,
                column: columns.value.clone(),
                cell: cut(value_text),
            })?;
        let rater = match (rater_at, &columns.rater) {
            (Some(index), Some(column)) => Some(cell(index, column)?),
            _ => None,
        };
        each(unit, rater, value);
        rows += 1;
    }
    if rows == 0 {
        return Err(RatingsFileError::NoRows { path: path.to_path_buf() });
    }
    Ok(())
}

/// Reads the file one row at a time and computes its agreement; an agreement error names the
/// file and the column it concerns (and the rows, for a rater who rated a unit twice).
pub fn agreement_of_file(path: &Path, columns: &Columns) -> Result<Agreement, RatingsFileError> {
    report_of_file(path, columns)?.into_agreement().map_err(|problem| file_error(path, columns, problem))
}

/// Reads the file one row at a time, never holding its rows ([`RatingSums`]), and computes
/// each statistic on its own ([`AgreementReport`]); an error of the whole names the file and
/// column as [`agreement_of_file`] does.
pub fn report_of_file(path: &Path, columns: &Columns) -> Result<AgreementReport, RatingsFileError> {
    let mut sums = RatingSums::default();
    for_each_rating(path, columns, |unit, rater, value| sums.push(unit, rater, value))?;
    sums.report().map_err(|problem| file_error(path, columns, problem))
}

/// An agreement error as one of the file: with the column it concerns (and the rows, for a
/// rater who rated a unit twice).
fn file_error(path: &Path, columns: &Columns, problem: AgreementError) -> RatingsFileError {
    {
        let rater_column = columns.rater.clone().unwrap_or_default();
        let column = match &problem {
            AgreementError::TooFewUnits { .. } | AgreementError::OneRatingPerUnit { .. } => columns.unit.clone(),
            AgreementError::OneRater { .. }
            | AgreementError::TooFewCompleteUnits { .. }
            | AgreementError::NoRaterPairs { .. } => rater_column,
            AgreementError::DuplicateRating { rater, unit, first, second } => {
                return RatingsFileError::Duplicate {
                    path: path.to_path_buf(),
                    first: first + 1,
                    second: second + 1,
                    column: rater_column,
                    rater: cut(rater),
                    unit: cut(unit),
                };
            }
            AgreementError::NoRatings
            | AgreementError::NotFinite { .. }
            | AgreementError::NoVariance { .. }
            | AgreementError::Undefined { .. } => columns.value.clone(),
        };
        RatingsFileError::Agreement { path: path.to_path_buf(), column, problem }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(rater: Option<&str>) -> Columns {
        Columns { unit: "id".into(), value: "V".into(), rater: rater.map(Into::into) }
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.csv");
        crate::fsutil::write_atomic(&path, text.as_bytes()).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_ratings_in_file_order() {
        let (_dir, path) = file("id,who,V\na,x,1\na,y, 2.5 \nb,x,3\n");
        let ratings = read_ratings(&path, &columns(Some("who"))).unwrap();
        assert_eq!(ratings.len(), 3);
        assert_eq!(ratings[1], Rating { unit: "a".into(), rater: Some("y".into()), value: 2.5 });
        assert!(read_ratings(&path, &columns(None)).unwrap().iter().all(|r| r.rater.is_none()));
    }

    #[test]
    fn streamed_file_gives_the_figures_of_the_ratings_in_memory() {
        use crate::va::agreement::{agreement, agreement_report, tests::random_ratings};
        for (seed, named) in [(11, true), (12, false)] {
            let ratings = random_ratings(seed, 60, 4, 0.75, named);
            let mut text = String::from("id,who,V\n");
            for r in &ratings {
                // `{}` writes the f64 back exactly; unnamed ratings leave the rater cell empty.
                text.push_str(&format!("{},{},{}\n", r.unit, r.rater.as_deref().unwrap_or_default(), r.value));
            }
            let (_dir, path) = file(&text);
            let rater = named.then_some("who");
            assert_eq!(read_ratings(&path, &columns(rater)).unwrap().len(), ratings.len());
            let streamed = report_of_file(&path, &columns(rater)).unwrap();
            assert_eq!(streamed.raters.is_some(), named);
            assert_eq!(streamed, agreement_report(&ratings).unwrap());
            assert_eq!(agreement_of_file(&path, &columns(rater)).unwrap(), agreement(&ratings).unwrap());
        }
    }

    #[test]
    fn bad_input_names_file_row_and_column() {
        let message = |text: &str, rater: Option<&str>| {
            let (_dir, path) = file(text);
            agreement_of_file(&path, &columns(rater)).unwrap_err().to_string()
        };
        let m = message("id,A\na,1\n", None);
        assert!(m.contains("ratings.csv: there is no column \"V\" (the header has \"id\", \"A\")"), "{m}");
        let m = message("id,V\na,1\na,2\nb,x\n", None);
        assert!(m.contains("ratings.csv: row 3 (line 4), column \"V\": \"x\" is not a number"), "{m}");
        let m = message("id,V\na,1\n,2\n", None);
        assert!(m.contains("row 2 (line 3), column \"id\": the cell is empty"), "{m}");
        // A quoted cell over two lines: the data row and the file line part.
        let m = message("id,V\n\"a\nb\",1\nc,NaN\n", None);
        assert!(m.contains("row 2 (line 4), column \"V\": \"NaN\" is not a number"), "{m}");
        let m = message("id,who,V\na,x,1\nb,x,2\n", Some("who"));
        assert!(m.contains("ratings.csv, column \"who\": only one rater (\"x\")"), "{m}");
        let m = message("id,who,V\na,x,1\na,y,2\nb,x,2\na,x,3\n", Some("who"));
        assert!(m.contains("ratings.csv: rows 1 and 4, column \"who\": rater \"x\" rated unit \"a\" twice"), "{m}");
        let m = message("id,V\na,1\nb,2\n", None);
        assert!(m.contains("ratings.csv, column \"id\": every one of the 2 units has a single rating"), "{m}");
        let m = message("id,V\na,1,9\n", None);
        assert!(m.contains("ratings.csv: row 1 (line 2): malformed CSV"), "{m}");
        let m = message("", None);
        assert!(m.contains("ratings.csv: the file is empty"), "{m}");
        let m = message("id,V\n", None);
        assert!(m.contains("ratings.csv: there is a header but no ratings"), "{m}");
    }
}
