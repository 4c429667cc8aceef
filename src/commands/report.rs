//! `roster report SUMMARY.json --html FILE`: the HTML page of a run, made later from the JSON
//! summary or plan the run wrote (the same page `--html-report` writes).

use std::io::Read;

use super::{reserve_html, write_html_page, Ctx};
use crate::cli::ReportArgs;
use crate::input::InputError;
use crate::report::html::pages::NotADocument;
use crate::{Error, Exit};

/// The most of a document read: a summary keeps 1,000 entries a list, and a plan of a million
/// users stays well under this; a file past it (or one that never ends) is refused.
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

pub fn exec(args: &ReportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let page = reserve_html(Some(&args.html))?.expect("a path was given");
    let unreadable = |source| InputError::Io {
        path: args.document.clone(),
        source,
    };
    // Room for the whole cap up front: pages never written are never backed by memory, and a
    // vector grown by doubling past the cap would hold the copy it grew from beside its new self.
    let mut bytes = Vec::with_capacity(MAX_DOCUMENT_BYTES as usize + 1);
    std::fs::File::open(&args.document)
        .and_then(|file| file.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(NotADocument(format!(
            "{}: over {} MiB, larger than any summary or plan roster writes",
            args.document.display(),
            MAX_DOCUMENT_BYTES >> 20
        ))
        .into());
    }
    let document: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| NotADocument(format!("{}: {e}", args.document.display())))?;
    let rest = format!("all are in {}", args.document.display());
    write_html_page(page, &document, &rest)?;
    ctx.say(format_args!("page: {}", args.html.display()))?;
    Ok(Exit::Success)
}
