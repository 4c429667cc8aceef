//! `roster report SUMMARY.json --html FILE`: the HTML page of a run, made later from the JSON
//! summary or plan the run wrote (the same page `--html-report` writes).

use super::{reserve_html, write_html_page, Ctx};
use crate::cli::ReportArgs;
use crate::input::InputError;
use crate::report::html::pages::NotADocument;
use crate::{Error, Exit};

pub fn exec(args: &ReportArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let page = reserve_html(Some(&args.html))?.expect("a path was given");
    let bytes = std::fs::read(&args.document).map_err(|source| InputError::Io {
        path: args.document.clone(),
        source,
    })?;
    let document: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| NotADocument(format!("{}: {e}", args.document.display())))?;
    let rest = format!("all are in {}", args.document.display());
    write_html_page(page, &document, &rest)?;
    ctx.say(format_args!("page: {}", args.html.display()))?;
    Ok(Exit::Success)
}
