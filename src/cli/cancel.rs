//! `signgate cancel`: submits a bulk cancellation job (or picks up a running one with
//! `--watch`), watches it to the end, prints the table of outcomes and writes every result
//! to a file. Ctrl-C stops the watching only; the job keeps running on the server.

pub mod client;
pub mod job;
pub mod output;
pub mod watch;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;

use futures::FutureExt;
use secrecy::SecretString;
use serde::Deserialize;

use client::{Client, ClientError};
use job::{CreateJob, Job, JobResult, JobState};
use output::{Format, OutputError, ResultsFile, Tally};
use watch::{Progress, POLL_INTERVAL};

/// Results asked for per page (the API's maximum).
pub const RESULTS_PAGE: u32 = 1000;

/// Options of `signgate cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The gateway's base URL, such as https://signgate.example.
    #[arg(long)]
    pub url: String,
    /// The name of the environment variable that holds the API key.
    #[arg(long, value_name = "VAR")]
    pub key_env: String,
    /// Watch a job submitted before instead of submitting one.
    #[arg(long, value_name = "JOB_ID", conflicts_with_all = [
        "message", "email", "no_notify", "callback_url", "idempotency_key", "file", "codes",
    ])]
    pub watch: Option<String>,
    /// The cancellation message the vendors record.
    #[arg(long, required_unless_present = "watch")]
    pub message: Option<String>,
    /// The email of the person cancelling.
    #[arg(long, required_unless_present = "watch")]
    pub email: Option<String>,
    /// Do not let the vendors notify the signers.
    #[arg(long)]
    pub no_notify: bool,
    /// Where signgate posts the finished job (its host must be allowed by the server).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// The Idempotency-Key of the submission (default: a fresh UUID).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Write every result to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The results file's format (default: from the file's extension, else csv).
    #[arg(long, value_enum, requires = "output")]
    pub format: Option<Format>,
    /// Read the codes from this file, one a line ('#' starts a comment line); "-" reads
    /// standard input.
    #[arg(long, value_name = "FILE", conflicts_with = "codes")]
    pub file: Option<PathBuf>,
    /// The document codes to cancel.
    #[arg(value_name = "CODE", required_unless_present_any = ["file", "watch"])]
    pub codes: Vec<String>,
}

/// How `signgate cancel` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The job is done and every document was cancelled.
    AllCancelled = 0,
    /// Some documents were not cancelled, or the job was cancelled.
    NotAllCancelled = 1,
    /// A usage or configuration error: nothing was submitted.
    Usage = 2,
    /// The server could not be reached, or answered an error.
    Server = 3,
    /// Ctrl-C stopped the watching; the job goes on.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// What the command does first: read a job, or submit one.
enum Start {
    Watch(String),
    Submit(CreateJob),
}

/// Why the command stopped early.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl Failure {
    fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) | Failure::Output(_) => Exit::Usage,
            Failure::Server(_) => Exit::Server,
        }
    }
}

/// Runs `signgate cancel` and gives its exit code.
pub async fn run(args: CancelArgs) -> ExitCode {
    let exit = match submit_and_follow(&args).await {
        Ok(exit) => exit,
        Err(failure) => {
            eprintln!("signgate cancel: {failure}");
            failure.exit()
        }
    };
    exit.into()
}

async fn submit_and_follow(args: &CancelArgs) -> Result<Exit, Failure> {
    let key = api_key(&args.key_env)?;
    reqwest::Url::parse(&args.url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| Failure::Usage(format!("--url {}: not an http(s) URL", args.url)))?;
    let start = match &args.watch {
        Some(id) => Start::Watch(id.clone()),
        None => Start::Submit(create_request(args)?),
    };
    let mut output = match &args.output {
        Some(path) => Some(ResultsFile::create(
            path,
            Format::for_output(path, args.format),
        )?),
        None => None,
    };
    let client = Client::new(&args.url, key)?;
    let job = match start {
        Start::Watch(id) => client.get(&id).await?,
        Start::Submit(request) => {
            let key = args
                .idempotency_key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            client.create(&request, &key).await?
        }
    };

    let mut interrupt = pin!(tokio::signal::ctrl_c().fuse());
    // The first poll installs the handler, so Ctrl-C is caught from the moment the job id
    // is printed; a handler that cannot be installed leaves Ctrl-C's default.
    if let Poll::Ready(Err(e)) = futures::poll!(interrupt.as_mut()) {
        eprintln!("signgate cancel: Ctrl-C cannot be caught: {e}");
    }
    println!("Job {}: {}", job.id, client.job_url(&job.id));
    let id = job.id.clone();
    tokio::select! {
        biased;
        _ = &mut interrupt => {
            eprintln!("The job keeps running. Watch it:\n  {}", watch_command(args, &id));
            eprintln!("or read it: GET {}", client.job_url(&id));
            Ok(Exit::Interrupted)
        }
        exit = follow(&client, job, output.as_mut()) => exit,
    }
}

/// Watches the job to its end, reads every result, prints the table and gives the exit code.
async fn follow(
    client: &Client,
    job: Job,
    mut output: Option<&mut ResultsFile>,
) -> Result<Exit, Failure> {
    let mut progress = Progress::for_stderr();
    let job = watch::watch(client, job, POLL_INTERVAL, &mut progress).await?;
    drop(progress);
    let mut tally = Tally::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .results(&job.id, cursor.as_deref(), RESULTS_PAGE)
            .await?;
        for raw in &page.results {
            let result = JobResult::deserialize(raw)
                .map_err(|e| ClientError::BadAnswer(format!("a result: {e}")))?;
            tally.add(&result);
            if let Some(file) = output.as_deref_mut() {
                file.write(raw, &result)?;
            }
        }
        let runaway = tally.results > job.total || page.results.is_empty();
        match page.next_cursor {
            Some(_) if runaway => {
                let e = "the results go on past the job's documents".to_owned();
                return Err(ClientError::BadAnswer(e).into());
            }
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if let Some(file) = output {
        file.finish()?;
    }
    print!("{}", output::outcome_table(&job, &tally));
    let (success, _) = job.success_and_errors();
    if job.state == JobState::Done && success == job.total {
        Ok(Exit::AllCancelled)
    } else {
        Ok(Exit::NotAllCancelled)
    }
}

/// The API key from the environment variable `--key-env` names.
fn api_key(variable: &str) -> Result<SecretString, Failure> {
    match std::env::var(variable) {
        Ok(key) if !key.trim().is_empty() => Ok(SecretString::from(key.trim().to_owned())),
        Ok(_) => Err(Failure::Usage(format!(
            "the environment variable {variable} (--key-env) is empty; set it to the API key"
        ))),
        Err(std::env::VarError::NotPresent) => Err(Failure::Usage(format!(
            "the environment variable {variable} (--key-env) is not set; set it to the API key"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::Usage(format!(
            "the environment variable {variable} (--key-env) is not valid UTF-8"
        ))),
    }
}

/// The job to submit: the codes (from the arguments or `--file`) and the options.
fn create_request(args: &CancelArgs) -> Result<CreateJob, Failure> {
    let codes = match &args.file {
        Some(path) => {
            let text = read_codes_file(path)
                .map_err(|e| Failure::Usage(format!("--file {}: {e}", path.display())))?;
            parse_codes(&text)
        }
        None => args
            .codes
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
    };
    if codes.is_empty() {
        return Err(Failure::Usage("no codes to cancel".into()));
    }
    let required = |value: &Option<String>, flag: &str| {
        value
            .clone()
            .ok_or_else(|| Failure::Usage(format!("{flag} is required")))
    };
    Ok(CreateJob {
        codes,
        message: required(&args.message, "--message")?,
        email: required(&args.email, "--email")?,
        notify_signers: !args.no_notify,
        callback_url: args.callback_url.clone(),
    })
}

fn read_codes_file(path: &Path) -> io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// The codes of a codes file: one a line, trimmed; blank lines and lines starting with `#`
/// skipped.
pub fn parse_codes(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The command that watches the job again, with the same URL, key variable and output.
pub fn watch_command(args: &CancelArgs, id: &str) -> String {
    let mut words = vec![
        "signgate cancel --url".to_owned(),
        shell_word(&args.url),
        "--key-env".to_owned(),
        shell_word(&args.key_env),
        "--watch".to_owned(),
        shell_word(id),
    ];
    if let Some(path) = &args.output {
        words.push("--output".to_owned());
        words.push(shell_word(&path.display().to_string()));
    }
    if let Some(format) = args.format {
        let name = match format {
            Format::Csv => "csv",
            Format::Json => "json",
        };
        words.push(format!("--format {name}"));
    }
    words.join(" ")
}

/// `word` as one POSIX shell word: as it is when it is plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CancelArgs,
    }

    fn parse(words: &[&str]) -> Result<CancelArgs, clap::Error> {
        let argv = std::iter::once("cancel").chain(words.iter().copied());
        Wrapper::try_parse_from(argv).map(|w| w.args)
    }

    #[test]
    fn a_codes_file_skips_blank_and_comment_lines_and_trims_the_rest() {
        let text = "# first batch\n  ZS-1  \n\n\tDS-2\n   \n#DS-3\nAU-4\r\n";
        assert_eq!(parse_codes(text), ["ZS-1", "DS-2", "AU-4"]);
    }

    #[test]
    fn codes_and_a_codes_file_are_exclusive_and_one_of_them_is_required() {
        let base = [
            "--url",
            "http://h",
            "--key-env",
            "K",
            "--message",
            "m",
            "--email",
            "e",
        ];
        let both = [&base[..], &["--file", "c.txt", "A"]].concat();
        assert!(parse(&both).is_err());
        assert!(parse(&base).is_err());
        let file = [&base[..], &["--file", "c.txt"]].concat();
        assert_eq!(parse(&file).unwrap().file, Some(PathBuf::from("c.txt")));
        let watch = ["--url", "http://h", "--key-env", "K", "--watch", "j1"];
        assert_eq!(parse(&watch).unwrap().watch.as_deref(), Some("j1"));
        let watch_and_codes = [&watch[..], &["A"]].concat();
        assert!(parse(&watch_and_codes).is_err());
    }

    #[test]
    fn the_watch_command_quotes_what_the_shell_would_split() {
        let args = parse(&[
            "--url",
            "http://127.0.0.1:8080",
            "--key-env",
            "KEY",
            "--output",
            "my results.csv",
            "--message",
            "m",
            "--email",
            "e",
            "A",
        ])
        .unwrap();
        assert_eq!(
            watch_command(&args, "j-1"),
            "signgate cancel --url http://127.0.0.1:8080 --key-env KEY --watch j-1 \
             --output 'my results.csv'"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_missing_or_empty_key_variable_is_a_usage_error() {
        let missing = api_key("SIGNGATE_CANCEL_TEST_SURELY_UNSET").unwrap_err();
        assert_eq!(missing.exit(), Exit::Usage);
        assert!(missing.to_string().contains("is not set"), "{missing}");
    }
}
