//! `synth --html FILE` and `placements --html FILE`: the answer as one
//! self-contained page (inline CSS and SVG, one small inline script, nothing fetched),
//! described in `docs/design.md` ("The HTML page").
//!
//! The page draws the hierarchy as nested boxes (outer level outside), one small
//! multiple per axis with every device coloured by its coordinate on that axis, for
//! every placement shown in rank order; per request the programs found, the best one
//! step by step (which groups talk, over which level) and a bar per step split into
//! bandwidth, latency and launch time against the lower bound, with the numbers of
//! the text output beside them. Large systems are aggregated (see [`AGGREGATE_ABOVE`])
//! and the page says what was. The `--json` document of the same run is embedded as
//! `<script type="application/json" id="collsynth-data">` with every `<`, `>` and
//! `&` written as a JSON `\u` escape, so no name can end the element. The bytes are a
//! pure function of the run: no timestamps.

use std::fmt::Write as _;

use super::framework_lines;
use super::synth::{nccl_note, ratio, request_line, verdict};
use crate::cost;
use crate::placement::{self, Placement};
use crate::program::Step;
use crate::spec::Spec;
use crate::synth::backend::Backend;
use crate::synth::{PlacementResult, Synthesis};
use crate::units::format_seconds;

/// Systems with more devices than this are aggregated: sibling subtrees whose
/// colouring is identical are drawn once with "× N more like this", and a subtree
/// whose devices all have one colour is one filled box.
pub const AGGREGATE_ABOVE: u64 = 256;
/// At most this many device cells (or filled boxes) per drawing; past it only the
/// first subtrees of the outer levels are drawn and the page says how many.
pub const MAX_CELLS: u64 = 2048;
/// At most this many placements drawn; the rest are listed in a table.
pub const MAX_DRAWN_PLACEMENTS: usize = 24;
/// Step-by-step diagrams for the best program of each request on this many
/// placements (the first shown).
pub const DIAGRAM_PLACEMENTS: usize = 3;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A JSON document made safe inside `<script type="application/json">`: `<`, `>`
/// and `&` (which occur only inside JSON strings) become `\u003c`, `\u003e`,
/// `\u0026`, and the JavaScript line separators U+2028/U+2029 are escaped too; the
/// JSON value is unchanged.
pub fn embed_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d1d1f;background:#fff;max-width:1340px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-top:2px solid #ddd;padding-top:12px}
h3{font-size:15px;margin:16px 0 4px}.sub{color:#555}.mono,code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12.5px}
.best{background:#e7f6e7;border:1px solid #7bc47b;border-radius:4px;padding:1px 6px;font-size:12px;margin-left:8px}
.multiples{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.multiple{border:1px solid #e2e2e2;border-radius:6px;padding:8px}
.multiple .t{font-weight:600;margin-bottom:4px}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:8px 0;font-size:13px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee;font-size:12.5px}
td.l,th.l{text-align:left}th{background:#f5f5f7}.steps{display:flex;flex-wrap:wrap;gap:14px}.fw{color:#444;font-size:12px;margin:2px 0}
svg text{font-family:system-ui,sans-serif}.legend{font-size:11px;color:#555}";

/// The page's script: parses the embedded document and shows that it did (the page
/// reads the same JSON a `--json` run prints).
const SCRIPT: &str = "(function(){var e=document.getElementById('collsynth-data');var o=document.getElementById('collsynth-data-check');try{var d=JSON.parse(e.textContent);var n=(d.placements||[]).length;o.textContent='embedded --json document: schema_version '+d.schema_version+', '+n+' placement'+(n==1?'':'s');var p=document.getElementById('collsynth-data-parsed');p.textContent=JSON.stringify(d);}catch(x){o.textContent='embedded --json document unreadable: '+x;}})();";

fn page(title: &str, body: &str, json: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(title));
    let _ = writeln!(out, "<style>\n{CSS}\n</style>\n</head>\n<body>");
    out.push_str(body);
    out.push_str("<p class=\"sub\" id=\"collsynth-data-check\">embedded --json document (the page's script did not run)</p>\n");
    out.push_str("<pre id=\"collsynth-data-parsed\" hidden></pre>\n");
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"collsynth-data\">\n{}</script>",
        embed_json(json)
    );
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

// ------------------------------------------------------------------ colours

/// The colour of coordinate `c` of an axis of size `n`: hues spread over the
/// wheel, neighbouring coordinates alternating in lightness once there are many.
fn axis_colour(c: u64, n: u64) -> String {
    let hue = if n <= 1 { 210 } else { c * 300 / (n - 1) };
    let light = if n > 10 { 42 + (c % 3) * 10 } else { 52 };
    format!("hsl({hue},70%,{light}%)")
}

/// The colour of group `g` (golden-angle hues so neighbours differ).
fn group_colour(g: u64) -> String {
    format!("hsl({},65%,{}%)", (g * 137) % 360, 45 + (g % 3) * 9)
}

const IDLE: &str = "#d9d9d9";

// ------------------------------------------------------------------ hierarchy drawing

/// What a drawing colours: a colour per rank, and which levels' digits it depends
/// on (so identical siblings and one-colour subtrees can be aggregated).
struct Colouring<'a> {
    colour: Box<dyn Fn(u64) -> String + 'a>,
    /// `depends[l]`: the colour changes with the level-`l` digit.
    depends: Vec<bool>,
    /// The tooltip of a device (only drawn when not aggregating).
    title: Box<dyn Fn(u64) -> String + 'a>,
}

/// How one drawing lays out the hierarchy.
struct Plan<'a> {
    levels: Vec<(&'a str, u64)>,
    /// Children drawn at each depth (the rest are summarized).
    drawn: Vec<u64>,
    /// Depth at and below which a box is one colour (filled, no cells).
    solid_from: usize,
    /// Siblings at this depth are identical: draw one and a "× N more" label.
    collapse: Vec<bool>,
    cell: f64,
    aggregate: bool,
}

const GAP: f64 = 3.0;
/// The largest side of a one-colour box, pixels.
const MAX_SOLID: f64 = 160.0;
const PAD: f64 = 4.0;

/// Columns of a grid of `n` children: one row up to 4, else the smallest divisor at
/// least √n (a near-square rectangle), or ⌈√n⌉ when that would be too wide (or n is
/// large).
fn columns(n: u64) -> u64 {
    if n <= 4 {
        return n.max(1);
    }
    let root = (n as f64).sqrt().ceil() as u64;
    if n > 4096 {
        return root;
    }
    (root..=n.min(2 * root))
        .find(|&c| n.is_multiple_of(c))
        .unwrap_or(root)
}

impl Plan<'_> {
    /// Slots in a box at depth `d`: the drawn children plus one label slot when
    /// some are summarized.
    fn slots(&self, d: usize) -> u64 {
        self.drawn[d] + u64::from(self.drawn[d] < self.levels[d].1)
    }

    /// Size of a box whose children are at depth `d` (`d == levels` is a cell).
    fn size(&self, d: usize) -> (f64, f64) {
        if d == self.levels.len() {
            return (self.cell, self.cell);
        }
        if d >= self.solid_from && d > 0 {
            // A one-colour box keeps its full size so drawings stay comparable (up to
            // a readable size: a subtree of millions of devices is not drawn to scale).
            let (w, h) = self.full_size(d);
            return (w.min(MAX_SOLID), h.min(MAX_SOLID));
        }
        let (cw, ch) = self.size(d + 1);
        let n = self.slots(d);
        let cols = columns(n);
        let rows = n.div_ceil(cols);
        (
            cols as f64 * cw + (cols - 1) as f64 * GAP + 2.0 * PAD,
            rows as f64 * ch + (rows - 1) as f64 * GAP + 2.0 * PAD,
        )
    }

    /// Size of a box at depth `d` with every child drawn as cells.
    fn full_size(&self, d: usize) -> (f64, f64) {
        if d == self.levels.len() {
            return (self.cell, self.cell);
        }
        let (cw, ch) = self.full_size(d + 1);
        let n = self.levels[d].1;
        let cols = columns(n);
        let rows = n.div_ceil(cols);
        (
            cols as f64 * cw + (cols - 1) as f64 * GAP + 2.0 * PAD,
            rows as f64 * ch + (rows - 1) as f64 * GAP + 2.0 * PAD,
        )
    }

    /// Ranks per child at depth `d`.
    fn stride(&self, d: usize) -> u64 {
        self.levels[d + 1..].iter().map(|l| l.1).product()
    }
}

/// How many cells (or filled boxes) a plan draws.
fn cells(plan: &Plan) -> u64 {
    let mut n = 1u64;
    for d in 0..plan.levels.len() {
        if d >= plan.solid_from && d > 0 {
            break;
        }
        n = n.saturating_mul(plan.drawn[d]);
    }
    n
}

/// Lays out a drawing for a colouring; returns the plan and what was aggregated.
fn plan<'a>(spec: &'a Spec, colouring: &Colouring) -> (Plan<'a>, Vec<String>) {
    let levels: Vec<(&str, u64)> = spec
        .system
        .levels
        .iter()
        .map(|l| (l.name.as_str(), l.arity))
        .collect();
    let devices = spec.devices();
    let aggregate = devices > AGGREGATE_ABOVE;
    let cell = match devices {
        0..=64 => 18.0,
        65..=256 => 11.0,
        257..=1024 => 7.0,
        _ => 5.0,
    };
    let nlev = levels.len();
    let mut notes = Vec::new();
    let (collapse, solid_from) = if aggregate {
        let collapse: Vec<bool> = (0..nlev).map(|l| !colouring.depends[l]).collect();
        let solid_from = colouring
            .depends
            .iter()
            .rposition(|&d| d)
            .map_or(0, |l| l + 1);
        (collapse, solid_from)
    } else {
        (vec![false; nlev], nlev + 1)
    };
    let drawn: Vec<u64> = levels
        .iter()
        .zip(&collapse)
        .map(|(l, &c)| if c && l.1 > 1 { 1 } else { l.1 })
        .collect();
    for d in 0..nlev {
        if collapse[d] && levels[d].1 > 1 && (d < solid_from || d == 0) {
            notes.push(format!(
                "each {} is drawn once with \"× {} more like this\": its {} siblings are coloured identically",
                levels[d].0,
                levels[d].1 - 1,
                levels[d].1 - 1
            ));
        }
    }
    if aggregate && solid_from > 0 && solid_from < nlev {
        notes.push(format!(
            "a {} whose devices all have one colour is one filled box",
            levels[solid_from - 1].0
        ));
    }
    let mut p = Plan {
        levels,
        drawn,
        solid_from,
        collapse,
        cell,
        aggregate,
    };
    // Past the cell budget, draw only the first children of the outer levels.
    for d in 0..nlev {
        let total = cells(&p);
        if total <= MAX_CELLS {
            break;
        }
        let rest = total / p.drawn[d];
        let keep = (MAX_CELLS / rest.max(1)).clamp(1, p.drawn[d]);
        if keep < p.drawn[d] {
            notes.push(format!(
                "only the first {keep} of {} {}s are drawn",
                p.levels[d].1, p.levels[d].0
            ));
            p.drawn[d] = keep;
        }
    }
    (p, notes)
}

/// One drawing of the hierarchy as an SVG element.
fn hierarchy_svg(plan: &Plan, colouring: &Colouring) -> String {
    let (w, h) = plan.size(0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" viewBox=\"0 0 {:.0} {:.0}\">",
        w + 2.0,
        h + 2.0,
        w + 2.0,
        h + 2.0
    );
    draw_box(plan, colouring, 0, 0, 1.0, 1.0, &mut out);
    out.push_str("</svg>");
    out
}

/// The tooltip of a box at depth `d > 0`: which child of its level it is and its
/// ranks (empty for the whole system).
fn box_title(plan: &Plan, d: usize, first: u64) -> String {
    if d == 0 {
        return String::new();
    }
    let (name, arity) = plan.levels[d - 1];
    let stride = plan.stride(d - 1);
    format!(
        "<title>{} {}: ranks {}-{}</title>",
        escape(name),
        (first / stride) % arity,
        first,
        first + stride - 1
    )
}

/// Draws the box at depth `d` whose first device is `first`, its top-left at (x, y).
fn draw_box(
    plan: &Plan,
    colouring: &Colouring,
    d: usize,
    first: u64,
    x: f64,
    y: f64,
    out: &mut String,
) {
    let nlev = plan.levels.len();
    if d == nlev {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{c:.1}\" height=\"{c:.1}\" rx=\"1.5\" fill=\"{}\">",
            (colouring.colour)(first),
            c = plan.cell
        );
        if !plan.aggregate {
            let _ = write!(out, "<title>{}</title>", escape(&(colouring.title)(first)));
        }
        out.push_str("</rect>");
        return;
    }
    let (w, h) = plan.size(d);
    if d > 0 && d >= plan.solid_from {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"3\" fill=\"{}\" stroke=\"#555\" stroke-width=\"0.6\">{}</rect>",
            (colouring.colour)(first),
            box_title(plan, d, first)
        );
        return;
    }
    let shade = ["#fafafa", "#f0f0f3", "#e6e6ea", "#dcdce2"][d.min(3)];
    let _ = write!(
        out,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"4\" fill=\"{shade}\" stroke=\"#888\" stroke-width=\"0.8\">{}</rect>",
        box_title(plan, d, first)
    );
    let (cw, ch) = plan.size(d + 1);
    let slots = plan.slots(d);
    let cols = columns(slots);
    let stride = plan.stride(d);
    for i in 0..slots {
        let cx = x + PAD + (i % cols) as f64 * (cw + GAP);
        let cy = y + PAD + (i / cols) as f64 * (ch + GAP);
        if i < plan.drawn[d] {
            draw_box(plan, colouring, d + 1, first + i * stride, cx, cy, out);
        } else {
            let more = plan.levels[d].1 - plan.drawn[d];
            let (name, label) = if plan.collapse[d] {
                (plan.levels[d].0, format!("×{more} more"))
            } else {
                (plan.levels[d].0, format!("+{more} not drawn"))
            };
            let size = (ch * 0.3).clamp(7.0, 12.0);
            let _ = write!(
                out,
                "<rect x=\"{cx:.1}\" y=\"{cy:.1}\" width=\"{cw:.1}\" height=\"{ch:.1}\" rx=\"3\" fill=\"#fff\" stroke=\"#999\" stroke-dasharray=\"3 2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{size:.0}\" text-anchor=\"middle\" fill=\"#333\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{:.0}\" text-anchor=\"middle\" fill=\"#666\">{}</text>",
                cx + cw / 2.0,
                cy + ch / 2.0,
                escape(&label),
                cx + cw / 2.0,
                cy + ch / 2.0 + size,
                size * 0.85,
                if plan.collapse[d] {
                    format!("{name}s like this")
                } else {
                    format!("{name}s")
                }
            );
        }
    }
}

// ------------------------------------------------------------------ placements

/// Which levels an axis's coordinate depends on in a placement.
fn axis_depends(p: &Placement, a: usize, levels: usize) -> Vec<bool> {
    (0..levels).map(|l| p.matrix[a][l] > 1).collect()
}

fn rank_title(spec: &Spec, p: &Placement, r: u64) -> String {
    let c = p.coords(r);
    format!(
        "rank {r}: {}",
        spec.axes
            .iter()
            .zip(&c)
            .map(|(a, v)| format!("{} {v}", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The legend of an axis: one swatch per coordinate (up to 32), else a scale.
fn axis_legend(n: u64) -> String {
    let mut out = String::from("<div class=\"legend\">");
    if n <= 32 {
        let w = 14.0;
        let _ = write!(
            out,
            "<svg width=\"{:.0}\" height=\"26\">",
            n as f64 * (w + 1.0) + 2.0
        );
        for c in 0..n {
            let _ = write!(
                out,
                "<rect x=\"{:.0}\" y=\"0\" width=\"{w}\" height=\"12\" fill=\"{}\"/>",
                c as f64 * (w + 1.0),
                axis_colour(c, n)
            );
            if n <= 16 || c % 4 == 0 {
                let _ = write!(
                    out,
                    "<text x=\"{:.0}\" y=\"24\" font-size=\"9\" text-anchor=\"middle\">{c}</text>",
                    c as f64 * (w + 1.0) + w / 2.0
                );
            }
        }
        out.push_str("</svg>");
    } else {
        let _ = write!(out, "<svg width=\"260\" height=\"26\">");
        for i in 0..64u64 {
            let c = i * (n - 1) / 63;
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"0\" width=\"4\" height=\"12\" fill=\"{}\"/>",
                i * 4,
                axis_colour(c, n)
            );
        }
        let _ = write!(
            out,
            "<text x=\"0\" y=\"24\" font-size=\"9\">0</text><text x=\"256\" y=\"24\" font-size=\"9\" text-anchor=\"end\">{}</text></svg>",
            n - 1
        );
    }
    out.push_str("</div>");
    out
}

/// One small multiple per axis of a placement; returns the HTML and what was
/// aggregated.
fn placement_multiples(spec: &Spec, p: &Placement) -> (String, Vec<String>) {
    let nlev = spec.system.levels.len();
    let mut out = String::from("<div class=\"multiples\">");
    let mut notes: Vec<String> = Vec::new();
    for (a, axis) in spec.axes.iter().enumerate() {
        let colouring = Colouring {
            colour: Box::new(move |r| axis_colour(p.coords(r)[a], axis.size)),
            depends: axis_depends(p, a, nlev),
            title: Box::new(move |r| rank_title(spec, p, r)),
        };
        let (pl, n) = plan(spec, &colouring);
        for x in n {
            let line = format!("{}: {x}", axis.name);
            if !notes.contains(&line) {
                notes.push(line);
            }
        }
        let spread: Vec<String> = (0..nlev)
            .filter(|&l| p.matrix[a][l] > 1)
            .map(|l| format!("{} over {}s", p.matrix[a][l], spec.system.levels[l].name))
            .collect();
        let _ = write!(
            out,
            "<div class=\"multiple\"><div class=\"t\">{} = {} <span class=\"sub\">{}</span></div>{}{}</div>",
            escape(&axis.name),
            axis.size,
            escape(&if spread.is_empty() {
                "(size 1)".to_string()
            } else {
                spread.join(", ")
            }),
            hierarchy_svg(&pl, &colouring),
            axis_legend(axis.size)
        );
    }
    out.push_str("</div>");
    (out, notes)
}

fn notes_html(notes: &[String]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"note\"><b>What this page aggregates or leaves out</b>:<ul style=\"margin:2px 0\">");
    for n in notes {
        let _ = write!(out, "<li>{}</li>", escape(n));
    }
    out.push_str("</ul></div>");
    out
}

fn levels_text(spec: &Spec) -> String {
    spec.system
        .levels
        .iter()
        .map(|l| {
            format!(
                "{} {} ({}/s, {})",
                l.name,
                l.arity,
                crate::units::format_bytes(l.bandwidth_bps),
                format_seconds(l.latency_s)
            )
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

fn header_html(spec: &Spec, what: &str) -> String {
    let mut out = String::new();
    let name = if spec.system.name.is_empty() {
        "system"
    } else {
        &spec.system.name
    };
    let _ = write!(
        out,
        "<h1>collsynth {}: {}</h1><p class=\"sub\">{}</p><p class=\"mono\">{}; launch {}</p>",
        escape(what),
        escape(name),
        escape(&spec.header()),
        escape(&levels_text(spec)),
        format_seconds(spec.system.launch_s)
    );
    let _ = write!(
        out,
        "<p class=\"sub\">The system: {}.</p>",
        escape(
            &spec
                .system
                .levels
                .iter()
                .map(|l| format!("{} {}s", l.arity, l.name))
                .collect::<Vec<_>>()
                .join(", each of ")
        )
    );
    out.push_str("<p class=\"sub\">Each drawing is the hierarchy as nested boxes, outer level outside; a small square is one device. One drawing per axis: a device's colour is its coordinate on that axis (legend below it); hover a device for its rank and coordinates.</p>");
    out
}

fn placement_heading(spec: &Spec, p: &Placement, index: usize, extra: &str) -> String {
    let dims = p.dim_names(spec);
    let mut out = format!(
        "<h2>placement {index} <span class=\"mono\">matrix {}</span>{extra}</h2><p class=\"mono\">dims: {}</p>",
        escape(&p.matrix_text()),
        escape(&if dims.is_empty() {
            "(none)".to_string()
        } else {
            dims.join(", ")
        })
    );
    for line in framework_lines(spec, p) {
        let _ = write!(out, "<p class=\"fw mono\">{}</p>", escape(&line));
    }
    out
}

/// `placements --html`: every placement (the first [`MAX_DRAWN_PLACEMENTS`] drawn),
/// in index order; `json` is the `placements --json` document of the same run.
pub fn placements_html(spec: &Spec, json: &str) -> String {
    let mut body = header_html(spec, "placements");
    let all = placement::enumerate(spec);
    let _ = write!(
        body,
        "<p>{} placements, in index order (what <code>--placement N</code> takes).</p>",
        all.len()
    );
    let mut notes = Vec::new();
    let mut sections = String::new();
    for (i, m) in all.iter().enumerate().take(MAX_DRAWN_PLACEMENTS) {
        let p = Placement::from_valid_matrix(m.clone());
        sections.push_str(&placement_heading(spec, &p, i, ""));
        let (html, n) = placement_multiples(spec, &p);
        sections.push_str(&html);
        for x in n {
            if !notes.contains(&x) {
                notes.push(x);
            }
        }
    }
    if all.len() > MAX_DRAWN_PLACEMENTS {
        notes.push(format!(
            "only the first {MAX_DRAWN_PLACEMENTS} of {} placements are drawn; the embedded JSON has them all",
            all.len()
        ));
    }
    body.push_str(&notes_html(&notes));
    body.push_str(&sections);
    page(
        &format!("collsynth placements: {}", spec.header()),
        &body,
        json,
    )
}

// ------------------------------------------------------------------ synth

/// Which levels a step's group number depends on: the levels with a dim outside the
/// step's dims (those digits pick the group) or among its roots.
fn step_depends(p: &Placement, step: &Step, levels: usize) -> Vec<bool> {
    let mut dep = vec![false; levels];
    for d in &p.dims {
        if !role(step, d).0 {
            dep[d.level] = true;
        }
    }
    dep
}

/// Whether a placement dim is among a step's dims, and among its roots.
fn role(step: &Step, d: &placement::Dim) -> (bool, bool) {
    let is = |x: &crate::program::DimRef| x.level == d.level && x.axis == d.axis;
    (step.dims.iter().any(is), step.roots.iter().any(is))
}

/// The group number of a rank in a step (mixed radix of its digits outside the
/// step's dims), or `None` when it is idle (a root digit is not 0).
fn group_of(p: &Placement, step: &Step, r: u64) -> Option<u64> {
    let digits = p.digits(r);
    let mut g = 0u64;
    for (i, d) in p.dims.iter().enumerate() {
        let (in_dims, in_roots) = role(step, d);
        if in_roots && digits[i] != 0 {
            return None;
        }
        if !in_dims {
            g = g * d.size + digits[i];
        }
    }
    Some(g)
}

fn step_diagram(
    spec: &Spec,
    p: &Placement,
    step: &Step,
    i: usize,
    caption: &str,
) -> (String, Vec<String>) {
    let nlev = spec.system.levels.len();
    let colouring = Colouring {
        colour: Box::new(move |r| group_of(p, step, r).map_or(IDLE.to_string(), group_colour)),
        depends: step_depends(p, step, nlev),
        title: Box::new(move |r| match group_of(p, step, r) {
            Some(g) => format!("rank {r}: group {g}"),
            None => format!("rank {r}: idle"),
        }),
    };
    let (pl, notes) = plan(spec, &colouring);
    let html = format!(
        "<div class=\"multiple\"><div class=\"t\">step {}: <span class=\"mono\">{}</span></div><div class=\"sub\" style=\"font-size:12px\">{}</div>{}</div>",
        i + 1,
        escape(&crate::program::Program::new(vec![step.clone()]).text(spec)),
        escape(caption),
        hierarchy_svg(&pl, &colouring)
    );
    (html, notes)
}

const BW: &str = "#3b73c4";
const LAT: &str = "#e08a2c";
const LAUNCH: &str = "#8e5bb5";
const PIPELINED: &str = "#111";

/// A bar split into bandwidth / latency / launch, with the lower bound as a dashed
/// line and, for a pipelined program, its overlapped total as a solid one (the parts
/// are then its plain steps, C = 1, run one after another).
fn bar(
    parts: &[(f64, f64, f64)],
    scale: f64,
    bound: f64,
    pipelined: Option<f64>,
    width: f64,
) -> String {
    let h = 14.0;
    let mut out = format!("<svg width=\"{:.0}\" height=\"{h:.0}\">", width + 4.0);
    let px = |t: f64| if scale > 0.0 { t / scale * width } else { 0.0 };
    let mut x = 0.0;
    for (i, &(b, l, k)) in parts.iter().enumerate() {
        for (t, c) in [(b, BW), (l, LAT), (k, LAUNCH)] {
            let w = px(t);
            if w > 0.0 {
                let _ = write!(
                    out,
                    "<rect x=\"{x:.2}\" y=\"1\" width=\"{w:.2}\" height=\"{:.0}\" fill=\"{c}\"/>",
                    h - 2.0
                );
            }
            x += w;
        }
        if i + 1 < parts.len() {
            let _ = write!(
                out,
                "<line x1=\"{x:.2}\" x2=\"{x:.2}\" y1=\"0\" y2=\"{h:.0}\" stroke=\"#fff\" stroke-width=\"1.5\"/>"
            );
        }
    }
    if let Some(t) = pipelined {
        let tx = px(t);
        let _ = write!(
            out,
            "<line x1=\"{tx:.2}\" x2=\"{tx:.2}\" y1=\"0\" y2=\"{h:.0}\" stroke=\"{PIPELINED}\" stroke-width=\"2.5\"/>"
        );
    }
    let bx = px(bound);
    let _ = write!(
        out,
        "<line x1=\"{bx:.2}\" x2=\"{bx:.2}\" y1=\"0\" y2=\"{h:.0}\" stroke=\"#c00\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/></svg>"
    );
    out
}

fn levels_of(spec: &Spec, step: &Step) -> String {
    let mut l: Vec<usize> = step.dims.iter().map(|d| d.level).collect();
    l.sort_unstable();
    l.dedup();
    l.iter()
        .map(|&i| spec.system.levels[i].name.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}

fn results_html(
    spec: &Spec,
    pr: &PlacementResult,
    backend: &dyn Backend,
    diagrams: bool,
    notes: &mut Vec<String>,
) -> String {
    let p = &pr.placement;
    let mut out = String::new();
    for r in &pr.results {
        let req = &spec.requests[r.request];
        let _ = write!(
            out,
            "<h3>request {}: {}</h3>",
            r.request,
            escape(&request_line(spec, r.request))
        );
        if let Some(t) = r.priced_s {
            let _ = write!(
                out,
                "<p>priced: {} (send_recv is not synthesized)</p>",
                format_seconds(t)
            );
            continue;
        }
        let _ = write!(
            out,
            "<p class=\"mono\">lower bound {} · flat ring {} · NCCL {} · group of {} devices</p>",
            format_seconds(r.lower_bound_s),
            format_seconds(r.flat_s),
            format_seconds(r.nccl_s),
            r.group_size
        );
        if r.programs.is_empty() {
            out.push_str("<p>no program found</p>");
            continue;
        }
        let costs: Vec<cost::ProgramCost> = r
            .programs
            .iter()
            // An all_gather program starts from each device's shard.
            .map(|x| {
                let start = cost::program_bytes(spec, req, req.bytes);
                cost::program_cost(spec, p, &x.program, start)
            })
            .collect();
        let scale = costs
            .iter()
            .map(|c| c.total_s)
            .fold(r.lower_bound_s, f64::max);
        let pipelined = r.programs.iter().any(|x| x.chunks > 1);
        out.push_str("<table><tr><th>#</th><th>time</th><th>busbw</th><th>/bound</th><th>vs ring</th><th>vs NCCL</th><th>verified</th><th class=\"l\">time: <span style=\"color:");
        let _ = write!(
            out,
            "{BW}\">■ bandwidth</span> <span style=\"color:{LAT}\">■ latency</span> <span style=\"color:{LAUNCH}\">■ launch</span> <span style=\"color:#c00\">┆ lower bound</span>{}</th><th class=\"l\">program</th></tr>",
            if pipelined {
                format!(" <span style=\"color:{PIPELINED}\">│ pipelined total</span> (a pipelined program's bar is its steps one after another)")
            } else {
                String::new()
            }
        );
        for (i, (x, c)) in r.programs.iter().zip(&costs).enumerate() {
            let busbw = backend.busbw_gbs(r.group_size, req.bytes, x.cost_s);
            // A relayout (a local copy, docs/cost-model.md §15) counts as bandwidth.
            let parts: Vec<(f64, f64, f64)> = c
                .steps
                .iter()
                .map(|s| (s.bandwidth_s, s.latency_s, s.launch_s))
                .chain(c.relayout.as_ref().map(|r| (r.time_s, 0.0, 0.0)))
                .collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{busbw:.1} GB/s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l mono\">{}</td></tr>",
                i + 1,
                format_seconds(x.cost_s),
                ratio(x.cost_s, r.lower_bound_s),
                ratio(r.flat_s, x.cost_s),
                ratio(r.nccl_s, x.cost_s),
                verdict(x),
                bar(
                    &parts,
                    scale,
                    r.lower_bound_s,
                    (x.chunks > 1).then_some(x.cost_s),
                    360.0
                ),
                escape(&if x.program.steps.is_empty() {
                    "(the empty program: nothing to reduce)".to_string()
                } else {
                    x.program.pipelined_text(spec, x.chunks)
                })
            );
        }
        out.push_str("</table>");
        if let Some(note) = nccl_note(req.collective, r) {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(&note));
        }
        // The best program step by step.
        let best = &r.programs[0];
        let c = &costs[0];
        if best.program.steps.is_empty() {
            continue;
        }
        out.push_str("<p><b>program 1 step by step</b>: per step, the time split into bandwidth, latency and launch (same scale, lower bound dashed)</p><table><tr><th>step</th><th class=\"l\">collective</th><th class=\"l\">over</th><th>groups</th><th>bytes in</th><th class=\"l\">bottleneck</th><th>bandwidth</th><th>latency</th><th>launch</th><th>time</th><th class=\"l\"></th></tr>");
        for (i, (s, sc)) in best.program.steps.iter().zip(&c.steps).enumerate() {
            let (groups, size) = group_count(p, s);
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"l mono\">{}</td><td class=\"l\">{}</td><td>{groups} × {size}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                i + 1,
                escape(&crate::program::Program::new(vec![s.clone()]).text(spec)),
                escape(&levels_of(spec, s)),
                crate::units::format_bytes(sc.bytes_in),
                sc.bottleneck
                    .map_or("-".to_string(), |l| escape(&spec.system.levels[l].name)),
                format_seconds(sc.bandwidth_s),
                format_seconds(sc.latency_s),
                format_seconds(sc.launch_s),
                format_seconds(sc.time_s),
                bar(&[(sc.bandwidth_s, sc.latency_s, sc.launch_s)], scale, r.lower_bound_s, None, 360.0)
            );
        }
        if let Some(rc) = &c.relayout {
            // Before the steps of a reduce_scatter, after those of an all_gather; shown last.
            let _ = write!(
                out,
                "<tr><td>-</td><td class=\"l mono\">relayout</td><td class=\"l\">local copy, {}</td><td>-</td><td>{}</td><td class=\"l\">copy at {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                if req.collective == crate::spec::RequestKind::AllGather {
                    "after the steps"
                } else {
                    "before the steps"
                },
                crate::units::format_bytes(rc.bytes),
                escape(&crate::units::format_bandwidth(spec.system.copy_bandwidth_bps)),
                format_seconds(rc.time_s),
                format_seconds(0.0),
                format_seconds(0.0),
                format_seconds(rc.time_s),
                bar(&[(rc.time_s, 0.0, 0.0)], scale, r.lower_bound_s, None, 360.0)
            );
        }
        out.push_str("</table>");
        if best.chunks > 1 {
            let _ = write!(
                out,
                "<p class=\"sub\">Program 1 runs pipelined on {} chunks: the steps above are its plain form (C = 1), run one after another ({}); overlapped, chunk k's step s beside chunk k+1's step s−1, the program takes {}.</p>",
                best.chunks,
                format_seconds(c.total_s),
                format_seconds(best.cost_s)
            );
        }
        if diagrams {
            out.push_str("<p class=\"sub\">Which groups talk at each step: devices of one group share a colour; grey devices are idle.</p><div class=\"steps\">");
            for (i, (s, sc)) in best.program.steps.iter().zip(&c.steps).enumerate() {
                let (groups, size) = group_count(p, s);
                let caption = format!(
                    "{groups} group{} of {size} over {}; {}",
                    if groups == 1 { "" } else { "s" },
                    levels_of(spec, s),
                    format_seconds(sc.time_s)
                );
                let (html, n) = step_diagram(spec, p, s, i, &caption);
                out.push_str(&html);
                for x in n {
                    let line = format!("step diagrams: {x}");
                    if !notes.contains(&line) {
                        notes.push(line);
                    }
                }
            }
            out.push_str("</div>");
        }
    }
    out
}

/// Groups of a step and their size (participants only).
fn group_count(p: &Placement, s: &Step) -> (u64, u64) {
    let mut groups = 1u64;
    let mut size = 1u64;
    for d in &p.dims {
        let (in_dims, in_roots) = role(s, d);
        if in_dims {
            size *= d.size;
        } else if !in_roots {
            groups *= d.size;
        }
    }
    (groups, size)
}

/// `synth --html`: the placements shown, in rank order; `json` is the `synth
/// --json` document of the same run.
pub fn synth_html(spec: &Spec, s: &Synthesis, backend: &dyn Backend, json: &str) -> String {
    let mut body = header_html(spec, "synth");
    body.push_str("<ul>");
    for i in 0..spec.requests.len() {
        let _ = write!(
            body,
            "<li>request {i}: {}</li>",
            escape(&request_line(spec, i))
        );
    }
    body.push_str("</ul>");
    let st = &s.stats;
    let _ = write!(
        body,
        "<p class=\"sub\">{} placement(s) of the spec, {} synthesized, {} pruned (lower bound above the best score); checked by {}: {} proved, {} refuted, {} undecided. Placements below are ranked by score (Σ count × exposed × best time).</p>",
        st.placements,
        st.synthesized,
        st.pruned,
        st.checker,
        st.proved,
        st.refuted.len(),
        st.unknown
    );
    if st.proofs_carried > 0 {
        let _ = write!(
            body,
            "<p class=\"sub\">proved*: {} of the proofs are another placement's proof of the same abstract program at other sizes, which carries to every size (proofs/README.md, \"One proof for every size\").</p>",
            st.proofs_carried
        );
    }
    let mut notes = Vec::new();
    let mut sections = String::new();
    for (rank, pr) in s.placements.iter().enumerate().take(MAX_DRAWN_PLACEMENTS) {
        let extra = format!(
            " <span class=\"sub\">#{} · score {}</span>{}",
            rank + 1,
            if pr.score_s.is_finite() {
                format_seconds(pr.score_s)
            } else {
                "none (a request has no program)".into()
            },
            if pr.best {
                "<span class=\"best\">best</span>"
            } else {
                ""
            }
        );
        sections.push_str(&placement_heading(spec, &pr.placement, pr.index, &extra));
        let (html, n) = placement_multiples(spec, &pr.placement);
        sections.push_str(&html);
        for x in n {
            if !notes.contains(&x) {
                notes.push(x);
            }
        }
        sections.push_str(&results_html(
            spec,
            pr,
            backend,
            rank < DIAGRAM_PLACEMENTS,
            &mut notes,
        ));
    }
    if s.placements.len() > MAX_DRAWN_PLACEMENTS {
        notes.push(format!(
            "only the first {MAX_DRAWN_PLACEMENTS} of {} placements shown are drawn; the rest are in the table below and the embedded JSON",
            s.placements.len()
        ));
        sections.push_str("<h2>the other placements</h2><table><tr><th>rank</th><th>index</th><th class=\"l\">matrix</th><th>score</th></tr>");
        for (rank, pr) in s.placements.iter().enumerate().skip(MAX_DRAWN_PLACEMENTS) {
            let _ = write!(
                sections,
                "<tr><td>{}</td><td>{}</td><td class=\"l mono\">{}</td><td>{}</td></tr>",
                rank + 1,
                pr.index,
                escape(&pr.placement.matrix_text()),
                if pr.score_s.is_finite() {
                    format_seconds(pr.score_s)
                } else {
                    "none".into()
                }
            );
        }
        sections.push_str("</table>");
    }
    if s.placements.len() > DIAGRAM_PLACEMENTS {
        notes.push(format!(
            "step-by-step group diagrams are drawn for the first {DIAGRAM_PLACEMENTS} placements only"
        ));
    }
    body.push_str(&notes_html(&notes));
    body.push_str(&sections);
    page(&format!("collsynth synth: {}", spec.header()), &body, json)
}
