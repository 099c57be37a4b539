//! What commands print, in one place: the format every data command takes
//! (`-o table|wide|json|yaml`), tables that fit the terminal, and writing.
//!
//! Like kubectl, the format never changes behind the user's back: a table stays
//! a table when piped (scripts ask for `-o json` or `-o yaml`). A table fits
//! `$COLUMNS` (120 when unknown) by wrapping its long cells; `-o wide` lays it
//! out at its natural width. Tables are drawn with plain box characters, never
//! colour, so a pipe or a file gets the same text a terminal shows.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::Failure;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table that fits the terminal (default).
    Table,
    /// The table with every column at its full width.
    Wide,
    Json,
    Yaml,
}

/// Set once by the command that prints, read by the table builders (which
/// are plain `fn(&T) -> String` renderers).
static WIDE: AtomicBool = AtomicBool::new(false);

/// Width of a table when neither `$COLUMNS` nor `-o wide` says otherwise.
pub const DEFAULT_WIDTH: u16 = 120;

impl Format {
    /// The user's choice, else a table; tables are laid out for this format
    /// from here on.
    pub fn chosen(choice: Option<Format>) -> Format {
        let format = choice.unwrap_or(Format::Table);
        WIDE.store(format == Format::Wide, Ordering::Relaxed);
        format
    }

    pub fn is_table(self) -> bool {
        matches!(self, Format::Table | Format::Wide)
    }
}

/// The columns a table may use: `$COLUMNS` when it is a number, else 120;
/// `None` with `-o wide`.
pub fn width() -> Option<u16> {
    if WIDE.load(Ordering::Relaxed) {
        return None;
    }
    Some(
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|&c| c >= 20)
            .unwrap_or(DEFAULT_WIDTH),
    )
}

/// A table with `header`, laid out for the chosen format, `indent` columns in
/// from the left margin.
pub fn table<const N: usize>(header: [&str; N], indent: u16) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    match width() {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w.saturating_sub(indent));
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

/// Hide columns of `t`, in the order of `droppable` (least important first),
/// until its content fits the width without wrapping, as far as dropping
/// helps; what still does not fit wraps. Nothing is hidden with `-o wide`.
pub fn drop_to_fit(t: &mut Table, droppable: &[usize], indent: u16) {
    let Some(width) = width() else {
        return;
    };
    let target = usize::from(width.saturating_sub(indent));
    let widths = t.column_max_content_widths();
    // Each column takes its content, a space either side and a border; one
    // more border closes the row.
    let mut natural: usize = widths.iter().map(|w| usize::from(*w) + 3).sum::<usize>() + 1;
    for &i in droppable {
        if natural <= target {
            break;
        }
        if let (Some(column), Some(w)) = (t.column_mut(i), widths.get(i)) {
            column.set_constraint(comfy_table::ColumnConstraint::Hidden);
            natural -= usize::from(*w) + 3;
        }
    }
}

/// Never wrap the cells of `columns` (names, versions, instants): a table
/// that must shrink wraps its prose columns instead. Call after the rows are
/// added.
pub fn keep_whole(t: &mut Table, columns: &[usize]) {
    let widths = t.column_max_content_widths();
    for &i in columns {
        if let (Some(column), Some(&w)) = (t.column_mut(i), widths.get(i)) {
            if column.constraint() == Some(&comfy_table::ColumnConstraint::Hidden) {
                continue; // dropped to fit: stays dropped
            }
            // A constraint counts the cell's padding, a space either side.
            column.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(
                comfy_table::Width::Fixed(w + 2),
            ));
        }
    }
}

/// What a coloured piece of text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tint {
    Added,
    Changed,
    Removed,
}

/// Whether output may carry colour: stdout is a terminal and `NO_COLOR` is
/// not set (<https://no-color.org>).
pub fn colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in the colour of `tint` when `on`, else as it is.
pub fn tint(text: &str, tint: Tint, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match tint {
        Tint::Added => "32",
        Tint::Changed => "33",
        Tint::Removed => "31",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

/// `block` with every line indented by two spaces.
pub fn indent(block: &str) -> String {
    let mut out = String::with_capacity(block.len() + 64);
    for line in block.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// `value` as JSON or YAML (a table format falls back to YAML, the more
/// readable of the two, for data without a table form).
pub fn data<T: Serialize>(value: &T, format: Format) -> Result<String, Failure> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value).context("rendering JSON")?;
            s.push('\n');
            s
        }
        Format::Yaml | Format::Table | Format::Wide => {
            serde_saphyr::to_string(value).map_err(|e| anyhow::anyhow!("rendering YAML: {e}"))?
        }
    })
}

/// Write `text` to stdout.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing the output")?;
    out.flush().context("writing the output")?;
    Ok(())
}

/// Write `value` in `format`: its table (from `render`) or its data.
pub fn write<T: Serialize>(
    format: Format,
    value: &T,
    render: impl FnOnce(&T) -> String,
) -> Result<(), Failure> {
    if format.is_table() {
        print(&render(value))
    } else {
        print(&data(value, format)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(tint("+ a", Tint::Added, false), "+ a");
        assert_eq!(tint("- a", Tint::Removed, true), "\u{1b}[31m- a\u{1b}[0m");
    }

    #[test]
    fn yaml_and_json_render_the_same_data() {
        let value = serde_json::json!({"a": 1, "b": ["x"]});
        assert_eq!(
            data(&value, Format::Json).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}\n"
        );
        assert!(data(&value, Format::Yaml).unwrap().contains("a: 1"));
    }
}
