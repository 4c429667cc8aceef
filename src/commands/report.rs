//! `roster report SUMMARY.json --html FILE`: the HTML page of a run, made later from the JSON
//! summary or plan the run wrote (the same page `--html-report` writes).

use std::io::{self, Read};
use std::path::Path;

use super::{reserve_html, write_html_page, Ctx};
use crate::cli::ReportArgs;
use crate::input::InputError;
use crate::report::html::pages::NotADocument;
use crate::{Error, Exit};

/// The most of a document read: a summary keeps 1,000 entries a list, and a plan of a million
/// users stays well under this; a file past it (or one that never ends) is refused.
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// The document whole, or `None` past the cap. Read a chunk at a time: a vector grown by
/// doubling holds the copy it grew from beside its new self, which past the cap (a stream that
/// never ends) is twice the cap.
fn read_capped(path: &Path) -> io::Result<Option<Vec<u8>>> {
    const CHUNK: u64 = 1 << 20;
    let mut input = std::fs::File::open(path)?.take(MAX_DOCUMENT_BYTES + 1);
    let (mut chunks, mut total) = (Vec::new(), 0);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK as usize);
        let read = (&mut input).take(CHUNK).read_to_end(&mut chunk)?;
        if read == 0 {
            break;
        }
        total += read as u64;
        chunks.push(chunk);
    }
    Ok((total <= MAX_DOCUMENT_BYTES).then(|| chunks.concat()))
}

pub fn exec(args: &ReportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let page = reserve_html(Some(&args.html))?.expect("a path was given");
    let unreadable = |source| InputError::Io {
        path: args.document.clone(),
        source,
    };
    let Some(bytes) = read_capped(&args.document).map_err(unreadable)? else {
        return Err(NotADocument(format!(
            "{}: over {} MiB, larger than any summary or plan roster writes",
            args.document.display(),
            MAX_DOCUMENT_BYTES >> 20
        ))
        .into());
    };
    let document: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| NotADocument(format!("{}: {e}", args.document.display())))?;
    let rest = format!("all are in {}", args.document.display());
    write_html_page(page, &document, &rest)?;
    ctx.say(format_args!("page: {}", args.html.display()))?;
    Ok(Exit::Success)
}
