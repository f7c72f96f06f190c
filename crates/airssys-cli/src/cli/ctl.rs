//! `airssys ctl`: one verb ([`Verb`], the same type the control API's
//! route table matches) against a running host.

use std::path::PathBuf;
use std::process::ExitCode;

use airssys_cli::control::auth::Token;
use airssys_cli::ctl::{self, CtlError, Verb};

/// `airssys ctl`'s arguments.
#[derive(clap::Args)]
pub struct CtlArgs {
    /// The control API's address (host:port).
    addr: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// File holding the bearer token (default: the AIRSSYS_CONTROL_TOKEN variable).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// PEM CA file that signed the control API's certificate, for an
    /// `https://` address (default: the system's roots).
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    verb: Verb,
}

/// One verb against the control API (`monitor` polls until the component
/// is gone): exit 2 for a token or payload that cannot be used, 1 when
/// the call failed.
pub async fn ctl_command(args: CtlArgs) -> ExitCode {
    let CtlArgs {
        addr,
        json,
        token_file,
        ca_file,
        verb,
    } = args;
    let token = match Token::load(token_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let token = token.as_ref().map(Token::as_str);
    let ca = ca_file.as_deref();
    let done = match &verb {
        Verb::Monitor { component, wait } => {
            ctl::monitor(&addr, token, ca, component, *wait, json).await
        }
        _ => ctl::call(&addr, token, ca, &verb).await.map(|answer| {
            if json {
                println!("{answer:#}");
            } else {
                println!("{}", ctl::render(&verb, &answer));
            }
        }),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let (true, CtlError::Api { body, .. }) = (json, &e) {
                println!("{body:#}");
            }
            eprintln!("error: {e}");
            let usage = matches!(e, CtlError::Verb(_));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
