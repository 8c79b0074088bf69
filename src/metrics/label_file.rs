//! Label files: a CSV with `id` and one column per label, holding 0/1 labels or, when every
//! label column is named `p_<label>`, probabilities (`univa predict` output; its `predicted`
//! column is ignored). Read by `univa metrics` and by imported prediction runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A label file: label names in column order and each id's row of values.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelFile {
    /// Label names, without the `p_` prefix of probability columns.
    pub labels: Vec<String>,
    /// The CSV column names, in the same order as `labels`.
    pub columns: Vec<String>,
    pub rows: HashMap<String, Vec<f32>>,
    /// Ids in file order.
    pub order: Vec<String>,
    /// Whether the values are probabilities (`p_<label>` columns) rather than 0/1 labels.
    pub probabilities: bool,
}

impl LabelFile {
    /// The CSV row number (1 is the header) of the `position`-th record.
    pub fn row_number(position: usize) -> usize {
        position + 2
    }
}

/// Why a label file could not be read; each message names the file, and the row and column
/// where there is one.
#[derive(Debug, thiserror::Error)]
pub enum LabelFileError {
    #[error("{}: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}: the first column must be `id`", path.display())]
    NoIdColumn { path: PathBuf },
    #[error("{}: row {row}, column {column:?}: {cell:?} is not a number", path.display())]
    NotANumber { path: PathBuf, row: usize, column: String, cell: String },
    #[error("{}: row {row}: id {id:?} appears twice", path.display())]
    DuplicateId { path: PathBuf, row: usize, id: String },
}

/// Reads a label file.
pub fn read(path: &Path) -> Result<LabelFile, LabelFileError> {
    let csv_error = |source| LabelFileError::Csv { path: path.to_path_buf(), source };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header = reader.headers().map_err(csv_error)?.clone();
    if header.get(0) != Some("id") {
        return Err(LabelFileError::NoIdColumn { path: path.to_path_buf() });
    }
    let columns: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, name)| *name != "predicted")
        .map(|(i, name)| (i, name.to_owned()))
        .collect();
    let probabilities = !columns.is_empty() && columns.iter().all(|(_, name)| name.starts_with("p_"));
    let labels: Vec<String> = columns
        .iter()
        .map(|(_, name)| name.strip_prefix("p_").filter(|_| probabilities).unwrap_or(name).to_owned())
        .collect();
    let mut rows = HashMap::new();
    let mut order = Vec::new();
    for (position, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let row = LabelFile::row_number(position);
        let id = record.get(0).unwrap_or_default().to_owned();
        let values = columns
            .iter()
            .map(|(i, name)| {
                let cell = record.get(*i).unwrap_or_default().trim();
                cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| LabelFileError::NotANumber {
                    path: path.to_path_buf(),
                    row,
                    column: name.clone(),
                    cell: cell.to_owned(),
                })
            })
            .collect::<Result<Vec<f32>, _>>()?;
        if rows.insert(id.clone(), values).is_some() {
            return Err(LabelFileError::DuplicateId { path: path.to_path_buf(), row, id });
        }
        order.push(id);
    }
    let columns = columns.into_iter().map(|(_, name)| name).collect();
    Ok(LabelFile { labels, columns, rows, order, probabilities })
}
