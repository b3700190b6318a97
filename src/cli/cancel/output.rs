//! What `signgate cancel` writes: every result to a CSV or JSON file, and the table of
//! outcomes (counts by status, failures by error code, the summary line) for people.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::job::{Job, JobResult};

/// The header of the CSV output.
pub const CSV_HEADER: &str = "code,vendor,status,queued,error_code,error_message,retryable";

/// The format of the results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One row per document, with a header.
    Csv,
    /// An array of the result objects as the server sent them.
    Json,
}

impl Format {
    /// The format asked for, else the one the file's extension names (`.json`), else CSV.
    pub fn for_output(path: &Path, asked: Option<Format>) -> Format {
        asked.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Csv,
        })
    }
}

/// Writes results as they are paged in, in one format.
#[derive(Debug)]
pub struct ResultsWriter<W: Write> {
    out: W,
    format: Format,
    written: u64,
}

impl<W: Write> ResultsWriter<W> {
    /// Starts the output: the CSV header, or the JSON array's opening.
    pub fn new(mut out: W, format: Format) -> io::Result<ResultsWriter<W>> {
        match format {
            Format::Csv => writeln!(out, "{CSV_HEADER}")?,
            Format::Json => write!(out, "[")?,
        }
        Ok(ResultsWriter {
            out,
            format,
            written: 0,
        })
    }

    /// Writes one result: `raw` as received for JSON, `result` (the same, typed) for CSV.
    pub fn write(&mut self, raw: &Value, result: &JobResult) -> io::Result<()> {
        match self.format {
            Format::Csv => writeln!(self.out, "{}", csv_row(result))?,
            Format::Json => {
                let separator = if self.written == 0 { "\n" } else { ",\n" };
                write!(self.out, "{separator}")?;
                serde_json::to_writer(&mut self.out, raw)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Closes the JSON array, flushes, and gives the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        if self.format == Format::Json {
            writeln!(self.out, "\n]")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A results file that could not be created or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {error}")]
pub struct OutputError {
    /// The file.
    pub path: String,
    /// Why.
    pub error: io::Error,
}

/// The results file being written; removed again unless it was written to the end (after
/// Ctrl-C or an error, a partial file would look like every result).
#[derive(Debug)]
pub struct ResultsFile {
    path: PathBuf,
    writer: Option<ResultsWriter<BufWriter<File>>>,
    complete: bool,
}

impl ResultsFile {
    /// Creates the file (before anything is submitted, so a bad path fails early).
    pub fn create(path: &Path, format: Format) -> Result<ResultsFile, OutputError> {
        let failure = |error| OutputError {
            path: path.display().to_string(),
            error,
        };
        let file = File::create(path).map_err(failure)?;
        let writer = ResultsWriter::new(BufWriter::new(file), format).map_err(failure)?;
        Ok(ResultsFile {
            path: path.to_owned(),
            writer: Some(writer),
            complete: false,
        })
    }

    /// Writes one result (see [`ResultsWriter::write`]).
    pub fn write(&mut self, raw: &Value, result: &JobResult) -> Result<(), OutputError> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(raw, result).map_err(|e| self.failure(e)),
            None => Ok(()),
        }
    }

    /// Ends the file; from now on it is kept.
    pub fn finish(&mut self) -> Result<(), OutputError> {
        if let Some(writer) = self.writer.take() {
            writer.finish().map_err(|e| self.failure(e))?;
        }
        self.complete = true;
        Ok(())
    }

    fn failure(&self, error: io::Error) -> OutputError {
        OutputError {
            path: self.path.display().to_string(),
            error,
        }
    }
}

impl Drop for ResultsFile {
    fn drop(&mut self) {
        if !self.complete {
            self.writer = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One CSV row of a result, in the order of [`CSV_HEADER`].
pub fn csv_row(result: &JobResult) -> String {
    let error = result.error.as_ref();
    let fields = [
        csv_field(&result.code),
        csv_field(result.vendor.as_deref().unwrap_or("")),
        csv_field(&result.status),
        Cow::Borrowed(if result.queued { "true" } else { "false" }),
        csv_field(error.map_or("", |e| e.code.as_str())),
        csv_field(error.map_or("", |e| e.message.as_str())),
        Cow::Borrowed(match error {
            Some(e) if e.retryable => "true",
            Some(_) => "false",
            None => "",
        }),
    ];
    fields.join(",")
}

/// A CSV field, quoted (with inner quotes doubled) when it holds a comma, a quote, a line
/// break or leading or trailing spaces (RFC 4180).
pub fn csv_field(text: &str) -> Cow<'_, str> {
    let special =
        text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if special {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

/// The results that are not `cancelled`, counted by error code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Error code -> (how many, retryable).
    pub by_error: BTreeMap<String, (u64, bool)>,
    /// How many results were read.
    pub results: u64,
}

impl Tally {
    /// Counts one result.
    pub fn add(&mut self, result: &JobResult) {
        self.results += 1;
        if let Some(error) = &result.error {
            let entry = self
                .by_error
                .entry(error.code.clone())
                .or_insert((0, error.retryable));
            entry.0 += 1;
        }
    }
}

/// The table of outcomes printed at the end: the job's counts by status, then (when any
/// document was not cancelled) the errors by code, then `success N, failed M`.
pub fn outcome_table(job: &Job, tally: &Tally) -> String {
    let mut out = String::new();
    let c = &job.counts;
    let _ = writeln!(out, "job {} {}", job.id, job.state.as_str());
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<20} {:>8}", "status", "count");
    for (status, count) in [
        ("cancelled", c.cancelled),
        ("already_cancelled", c.already_cancelled),
        ("failed", c.failed),
        ("pending", c.pending),
        ("waiting", c.waiting),
    ] {
        if count > 0 || matches!(status, "cancelled" | "failed") {
            let _ = writeln!(out, "{status:<20} {count:>8}");
        }
    }
    if !tally.by_error.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<20} {:>8}  retryable", "error code", "count");
        for (code, (count, retryable)) in &tally.by_error {
            let retryable = if *retryable { "yes" } else { "no" };
            let _ = writeln!(out, "{code:<20} {count:>8}  {retryable}");
        }
    }
    let (success, failed) = job.success_and_errors();
    let _ = writeln!(out);
    let _ = writeln!(out, "success {success}, failed {failed}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::cancel::job::ResultError;
    use serde_json::json;

    fn failed(code: &str, error: &str, message: &str, retryable: bool) -> JobResult {
        JobResult {
            code: code.into(),
            vendor: Some("zapsign".into()),
            status: "failed".into(),
            queued: false,
            error: Some(ResultError {
                code: error.into(),
                message: message.into(),
                retryable,
            }),
        }
    }

    #[test]
    fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn a_csv_row_has_every_column_and_empty_ones_for_a_cancelled_unroutable_result() {
        let row = csv_row(&failed("Z1", "vendor_timeout", "slow, then gone", true));
        assert_eq!(
            row,
            "Z1,zapsign,failed,false,vendor_timeout,\"slow, then gone\",true"
        );
        let cancelled = JobResult {
            code: "A".into(),
            vendor: None,
            status: "cancelled".into(),
            queued: true,
            error: None,
        };
        assert_eq!(csv_row(&cancelled), "A,,cancelled,true,,,");
    }

    #[test]
    fn the_format_follows_the_flag_then_the_extension_then_defaults_to_csv() {
        assert_eq!(Format::for_output(Path::new("r.JSON"), None), Format::Json);
        assert_eq!(Format::for_output(Path::new("r.txt"), None), Format::Csv);
        assert_eq!(Format::for_output(Path::new("r"), None), Format::Csv);
        let asked = Some(Format::Csv);
        assert_eq!(Format::for_output(Path::new("r.json"), asked), Format::Csv);
    }

    #[test]
    fn the_json_writer_writes_an_array_of_the_objects_as_received() {
        let result = failed("Z1", "not_found", "gone", false);
        let raw = json!({"code": "Z1", "status": "failed", "extra": 1});
        let mut writer = ResultsWriter::new(Vec::new(), Format::Json).unwrap();
        writer.write(&raw, &result).unwrap();
        writer.write(&raw, &result).unwrap();
        let bytes = writer.finish().unwrap();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, json!([raw, raw]));
        let empty = ResultsWriter::new(Vec::new(), Format::Json).unwrap();
        let parsed: Value = serde_json::from_slice(&empty.finish().unwrap()).unwrap();
        assert_eq!(parsed, json!([]));
    }

    #[test]
    fn the_table_counts_statuses_and_errors_by_code_and_ends_with_the_summary() {
        let job: Job = serde_json::from_value(json!({
            "id": "j1", "state": "done", "total": 4,
            "counts": {"waiting": 0, "pending": 0, "cancelled": 1, "already_cancelled": 0,
                       "failed": 3},
            "summary": {"success": 1, "errors": {"cant": 3, "documents": ["B", "C", "D"]}}
        }))
        .unwrap();
        let mut tally = Tally::default();
        tally.add(&failed("B", "vendor_timeout", "", true));
        tally.add(&failed("C", "vendor_timeout", "", true));
        tally.add(&failed("D", "not_found", "", false));
        let table = outcome_table(&job, &tally);
        assert!(table.contains("cancelled                   1"), "{table}");
        assert!(table.contains("failed                      3"), "{table}");
        assert!(
            table.contains("vendor_timeout              2  yes"),
            "{table}"
        );
        assert!(
            table.contains("not_found                   1  no"),
            "{table}"
        );
        assert!(table.ends_with("success 1, failed 3\n"), "{table}");
        assert!(!table.contains("waiting"), "{table}");
    }

    #[test]
    fn a_results_file_is_kept_when_finished_and_removed_when_dropped_before() {
        let dir = std::env::temp_dir();
        let unique = uuid::Uuid::new_v4().simple();
        let kept = dir.join(format!("signgate-results-kept-{unique}.csv"));
        let dropped = dir.join(format!("signgate-results-dropped-{unique}.csv"));
        let result = failed("Z1", "not_found", "gone", false);
        let mut file = ResultsFile::create(&kept, Format::Csv).unwrap();
        file.write(&json!({}), &result).unwrap();
        file.finish().unwrap();
        drop(file);
        let partial = ResultsFile::create(&dropped, Format::Csv).unwrap();
        assert!(dropped.exists());
        drop(partial);

        let text = std::fs::read_to_string(&kept).unwrap();
        let _ = std::fs::remove_file(&kept);
        assert_eq!(
            text,
            format!("{CSV_HEADER}\nZ1,zapsign,failed,false,not_found,gone,false\n")
        );
        assert!(!dropped.exists(), "an unfinished file is removed");
    }
}
