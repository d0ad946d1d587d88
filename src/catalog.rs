//! The built-in catalog of systems (`collsynth systems`, `--system NAME --nodes N`,
//! `system = "catalog:NAME"` in a spec), the problem the spec-free command line
//! describes (`--axes`, `--collective`), and plausibility warnings about a system's
//! figures (`docs/design.md`, §6.5 "Catalog of systems and the spec-free command
//! line" and §6.6 "Plausibility warnings").
//!
//! Entries are TOML files in `specs/catalog/`, compiled into the binary; each gives
//! its sources and the effective (not line-rate) figures it uses, with the arity of
//! its outer levels left to `nodes` or `racks`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::source::{did_you_mean, InputError, Source};
use crate::spec::{self, Spec, System, SystemSize, CATALOG_PREFIX};
use crate::units::{format_seconds, Bandwidth, Duration};

/// The entries' files, in listing order.
const FILES: &[(&str, &str)] = &[
    ("dgx-a100", include_str!("../specs/catalog/dgx-a100.toml")),
    ("dgx-h100", include_str!("../specs/catalog/dgx-h100.toml")),
    ("dgx-b200", include_str!("../specs/catalog/dgx-b200.toml")),
    (
        "gb200-nvl72",
        include_str!("../specs/catalog/gb200-nvl72.toml"),
    ),
    (
        "gcp-a2-megagpu-16g",
        include_str!("../specs/catalog/gcp-a2-megagpu-16g.toml"),
    ),
    (
        "gcp-a2-highgpu-8g",
        include_str!("../specs/catalog/gcp-a2-highgpu-8g.toml"),
    ),
    (
        "gcp-a3-megagpu-8g",
        include_str!("../specs/catalog/gcp-a3-megagpu-8g.toml"),
    ),
    (
        "aws-p4d-24xlarge",
        include_str!("../specs/catalog/aws-p4d-24xlarge.toml"),
    ),
    (
        "aws-p5-48xlarge",
        include_str!("../specs/catalog/aws-p5-48xlarge.toml"),
    ),
    (
        "azure-nd-h100-v5",
        include_str!("../specs/catalog/azure-nd-h100-v5.toml"),
    ),
    (
        "amd-mi300x",
        include_str!("../specs/catalog/amd-mi300x.toml"),
    ),
    (
        "rail-h100-cluster",
        include_str!("../specs/catalog/rail-h100-cluster.toml"),
    ),
];

/// One built-in system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What `--system` takes.
    pub name: String,
    /// Other names `--system` takes (the vendor's own spelling).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Display name of one node (or rack), used in the system's name.
    pub title: String,
    /// One line: GPUs, intra-node fabric, network.
    pub summary: String,
    /// Where each figure comes from (and which are derived or assumed).
    pub sources: Vec<String>,
    /// Fixed cost of one collective call.
    pub launch: String,
    /// Nodes per rack when only `nodes` is given (entries with both racks and nodes).
    pub nodes_per_rack: Option<u64>,
    /// Levels, outermost first.
    pub levels: Vec<EntryLevel>,
}

/// A level of an entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLevel {
    /// Level name.
    pub name: String,
    /// A fixed arity, or what sizes it.
    pub arity: Arity,
    /// Effective bandwidth per direction of one child's link.
    pub bandwidth: Option<String>,
    /// For a rack level: the uplink's bandwidth per node in the rack (the link
    /// scales with the nodes per rack).
    pub bandwidth_per_node: Option<String>,
    /// Latency per hop.
    pub latency: String,
    /// One device's own limit over this level's link.
    pub device_bandwidth: Option<String>,
}

/// A level's arity in an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Arity {
    /// Children per parent, fixed (GPUs per node).
    Fixed(u64),
    /// Given by `nodes` or `racks`.
    Sized(Sizer),
}

/// What sizes a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    /// `--nodes` (in all; per rack when the entry also has racks).
    Nodes,
    /// `--racks`.
    Racks,
}

/// Every entry, in listing order.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, text)| {
                let e: Entry = toml::from_str(text)
                    .unwrap_or_else(|err| panic!("catalog entry {name} is valid (tested): {err}"));
                assert_eq!(&e.name, name, "catalog file name and entry name agree");
                e
            })
            .collect()
    })
}

/// The entry `--system` or `catalog:` names (or an alias of it); the error says
/// which names exist and suggests the closest.
pub fn find(name: &str) -> Result<&'static Entry, String> {
    if let Some(e) = entries()
        .iter()
        .find(|e| e.name == name || e.aliases.iter().any(|a| a == name))
    {
        return Ok(e);
    }
    let names = entries()
        .iter()
        .flat_map(|e| std::iter::once(e.name.as_str()).chain(e.aliases.iter().map(String::as_str)));
    let hint = did_you_mean(name, names)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    Err(format!(
        "`{name}` is not a built-in system: {hint}`collsynth systems` lists them ({})",
        entries()
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

impl Entry {
    /// Whether a level is sized by `s`.
    pub fn sized_by(&self, s: Sizer) -> bool {
        self.levels.iter().any(|l| l.arity == Arity::Sized(s))
    }

    /// The flags that size it, as `--nodes N` / `--racks N`.
    pub fn sizing(&self) -> String {
        match (self.sized_by(Sizer::Nodes), self.sized_by(Sizer::Racks)) {
            (true, true) => format!(
                "--nodes N (in all) and/or --racks R (default: {} nodes per rack)",
                self.nodes_per_rack.unwrap_or(1)
            ),
            (false, true) => "--racks R".into(),
            _ => "--nodes N".into(),
        }
    }

    /// Devices in one node (or rack, for rack-only entries): the product of the fixed
    /// arities.
    pub fn devices_per_unit(&self) -> u64 {
        self.levels
            .iter()
            .filter_map(|l| match l.arity {
                Arity::Fixed(a) => Some(a),
                Arity::Sized(_) => None,
            })
            .product()
    }

    /// The levels' arities for a size, and the system's display name.
    fn arities(&self, size: SystemSize) -> Result<(Vec<u64>, String), String> {
        let name = &self.name;
        let (has_nodes, has_racks) = (self.sized_by(Sizer::Nodes), self.sized_by(Sizer::Racks));
        if !has_racks && size.racks.is_some() {
            return Err(format!(
                "`{name}` has no racks: leave out `racks` (--racks) and give the number of nodes"
            ));
        }
        if !has_nodes && size.nodes.is_some() {
            return Err(format!(
                "`{name}` is sized by racks ({} devices each): give `racks` (--racks R) instead of `nodes`",
                self.devices_per_unit()
            ));
        }
        let (nodes, racks, title) = match (has_nodes, has_racks, size.nodes, size.racks) {
            (true, false, Some(n), _) => (n, 1, format!("{n} x {}", self.title)),
            (false, true, _, Some(r)) => (1, r, format!("{r} x {}", self.title)),
            (true, true, Some(n), Some(r)) => {
                if n % r != 0 {
                    return Err(format!(
                        "{n} nodes do not split evenly into {r} racks: give a number of nodes that is a multiple of the racks"
                    ));
                }
                (n, r, format!("{n} nodes in {r} racks, {}", self.title))
            }
            (true, true, Some(n), None) => {
                let per = self.nodes_per_rack.unwrap_or(1);
                let r = if n <= per {
                    1
                } else if n % per == 0 {
                    n / per
                } else {
                    return Err(format!(
                        "{n} nodes are not a whole number of {per}-node racks: give the racks too (--racks R, `racks = R`)"
                    ));
                };
                (n, r, format!("{n} nodes in {r} racks, {}", self.title))
            }
            (true, true, None, Some(r)) => {
                let n = r.saturating_mul(self.nodes_per_rack.unwrap_or(1));
                (n, r, format!("{n} nodes in {r} racks, {}", self.title))
            }
            (_, true, None, None) | (true, false, None, _) | (false, true, Some(_), None) => {
                return Err(format!(
                    "`{name}` needs its size: give {} (in a spec, {})",
                    self.sizing(),
                    if has_nodes {
                        "`nodes = N`"
                    } else {
                        "`racks = R`"
                    }
                ))
            }
            (false, false, ..) => (1, 1, self.title.clone()),
        };
        let per_rack = if has_racks { nodes / racks } else { nodes };
        let arities = self
            .levels
            .iter()
            .map(|l| match l.arity {
                Arity::Fixed(a) => a,
                Arity::Sized(Sizer::Nodes) => per_rack,
                Arity::Sized(Sizer::Racks) => racks,
            })
            .collect();
        Ok((arities, title))
    }

    /// The system-file text (`name`, `launch`, `levels`) of this entry at a size; a
    /// sized level of arity 1 (one rack, one node) is left out, since no traffic
    /// crosses it.
    pub fn system_toml(&self, size: SystemSize) -> Result<String, String> {
        let (arities, title) = self.arities(size)?;
        let mut out = String::new();
        let _ = writeln!(out, "name = {}", toml_string(&title));
        let _ = writeln!(out, "launch = {}", toml_string(&self.launch));
        out.push_str("levels = [\n");
        let per_rack = self
            .levels
            .iter()
            .zip(&arities)
            .find(|(l, _)| l.arity == Arity::Sized(Sizer::Nodes))
            .map_or(1, |(_, &a)| a);
        let kept: Vec<(&EntryLevel, u64)> = self
            .levels
            .iter()
            .zip(arities)
            .filter(|(l, a)| !(matches!(l.arity, Arity::Sized(_)) && *a == 1))
            .collect();
        // One level at least: a single node of a one-level entry keeps it.
        let kept = if kept.is_empty() {
            vec![(&self.levels[self.levels.len() - 1], 1)]
        } else {
            kept
        };
        for (l, a) in kept {
            let bandwidth = match (&l.bandwidth, &l.bandwidth_per_node) {
                (Some(b), _) => b.clone(),
                (None, Some(per_node)) => {
                    let b = Bandwidth::parse(per_node).map_err(|e| e.0)?;
                    Bandwidth(b.0 * per_rack as f64).to_string()
                }
                (None, None) => {
                    return Err(format!(
                        "catalog entry {}: level {} has no bandwidth",
                        self.name, l.name
                    ))
                }
            };
            let _ = write!(
                out,
                "  {{ name = {}, arity = {a}, bandwidth = {}, latency = {}",
                toml_string(&l.name),
                toml_string(&bandwidth),
                toml_string(&l.latency)
            );
            if let Some(d) = &l.device_bandwidth {
                let _ = write!(out, ", device_bandwidth = {}", toml_string(d));
            }
            out.push_str(" },\n");
        }
        out.push_str("]\n");
        Ok(out)
    }

    /// The system at a size.
    pub fn system(&self, size: SystemSize) -> Result<System, String> {
        let text = self.system_toml(size)?;
        spec::parse_system(&Source::new(format!("{CATALOG_PREFIX}{}", self.name), text))
            .map_err(|e| format!("catalog entry {}: {e}", self.name))
    }
}

/// A TOML basic string (quotes, backslashes and control characters escaped).
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Resolves a spec's `system = "catalog:NAME"` (what [`spec::parse_with_catalog`] is
/// given).
pub fn lookup(name: &str, size: SystemSize) -> Result<System, String> {
    find(name)?.system(size)
}

/// Parses spec text, resolving `system = "catalog:NAME"`.
pub fn parse_spec(source: &Source, dir: Option<&Path>) -> Result<Spec, InputError> {
    spec::parse_with_catalog(source, dir, Some(&lookup))
}

/// Reads a spec file, resolving `system = "catalog:NAME"`.
pub fn load_spec(path: &Path) -> Result<Spec, InputError> {
    let source = crate::source::read_file(
        path,
        "spec",
        "check the path; example specs are in specs/, and without --spec the embedded default is used",
    )?;
    parse_spec(&source, path.parent())
}

// ---------------------------------------------------------------- spec-free problems

/// What the command line names a spec's source when the problem comes from flags.
pub const COMMAND_LINE: &str = "command line";

/// A request as `--collective COLLECTIVE:AXES:BYTES[:COUNT]` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFlag {
    /// The collective, as the spec's `collective` takes it.
    pub collective: String,
    /// Axis names.
    pub axes: Vec<String>,
    /// The size, as written.
    pub bytes: String,
    /// How often per step.
    pub count: Option<u64>,
}

fn check_flag_name(name: &str, flag: &str, text: &str) -> Result<(), String> {
    let mut c = name.chars();
    if matches!(c.next(), Some('a'..='z')) && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) {
        Ok(())
    } else {
        Err(format!(
            "{flag} {text}: `{name}` is not a valid name: names start with a lowercase letter and use only a-z, 0-9 and _"
        ))
    }
}

/// `--axes data=8,model=4`: names and sizes, in order.
pub fn parse_axes_flag(text: &str) -> Result<Vec<(String, u64)>, String> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for part in text.split(',') {
        let Some((name, size)) = part.split_once('=') else {
            return Err(format!(
                "--axes {text}: `{part}` is not NAME=SIZE: write the axes like `data=8,model=4`, outermost-varying first as in a spec"
            ));
        };
        let name = name.trim();
        check_flag_name(name, "--axes", text)?;
        let size: u64 = size.trim().parse().ok().filter(|&s| s > 0).ok_or_else(|| {
            format!(
                "--axes {text}: the size of `{name}` is `{size}`, not a whole number of at least 1"
            )
        })?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("--axes {text}: axis `{name}` is named twice"));
        }
        out.push((name.to_string(), size));
    }
    Ok(out)
}

/// `--collective all_reduce:data+pipe:2GB:4`.
pub fn parse_collective_flag(text: &str) -> Result<RequestFlag, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let shape = "COLLECTIVE:AXES:BYTES[:COUNT], like `all_reduce:data:2GB` or `all_reduce:tensor:32MB:96` (AXES joined by `+`)";
    if !(3..=4).contains(&parts.len()) {
        return Err(format!("--collective {text}: write it as {shape}"));
    }
    let collective = parts[0].trim();
    check_flag_name(collective, "--collective", text)?;
    let axes: Vec<String> = parts[1].split('+').map(|a| a.trim().to_string()).collect();
    for a in &axes {
        check_flag_name(a, "--collective", text)?;
    }
    let bytes = parts[2].trim();
    if bytes.is_empty()
        || !bytes
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._+-".contains(c))
    {
        return Err(format!(
            "--collective {text}: `{bytes}` is not a size: write it like `2GB` or `64MiB`"
        ));
    }
    let count = match parts.get(3) {
        None => None,
        Some(c) => Some(
            c.trim()
                .parse()
                .ok()
                .filter(|&n: &u64| n > 0)
                .ok_or_else(|| {
                    format!(
                        "--collective {text}: the count `{c}` is not a whole number of at least 1"
                    )
                })?,
        ),
    };
    Ok(RequestFlag {
        collective: collective.to_string(),
        axes,
        bytes: bytes.to_string(),
        count,
    })
}

/// The spec that `--system NAME`, its size, `--axes` and `--collective` describe, as
/// TOML (what `--print-spec` writes): the system inline, with the entry's sources
/// as comments. Checks what the spec parser would only locate in the generated text:
/// the axis product and the request axes.
pub fn problem_toml(
    system: &str,
    size: SystemSize,
    axes: &[(String, u64)],
    requests: &[RequestFlag],
) -> Result<String, String> {
    let entry = find(system)?;
    let system_text = entry.system_toml(size)?;
    let sys = entry.system(size)?;
    let product = axes
        .iter()
        .fold(1u128, |p, (_, s)| p.saturating_mul(u128::from(*s)));
    if product != u128::from(sys.devices()) {
        return Err(format!(
            "--axes {} multiply to {product}, but {} has {} devices ({}): change the axis sizes or the system's size",
            axes.iter().map(|(n, s)| format!("{n}={s}")).collect::<Vec<_>>().join(","),
            sys.name,
            sys.devices(),
            sys.levels
                .iter()
                .map(|l| format!("{} {}", l.name, l.arity))
                .collect::<Vec<_>>()
                .join(" x ")
        ));
    }
    for r in requests {
        for a in &r.axes {
            if !axes.iter().any(|(n, _)| n == a) {
                let hint = did_you_mean(a, axes.iter().map(|(n, _)| n.as_str()))
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return Err(format!(
                    "--collective {}:{}:{}: `{a}` is not one of --axes: {hint}use one of {}",
                    r.collective,
                    r.axes.join("+"),
                    r.bytes,
                    axes.iter()
                        .map(|(n, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {}: built-in system `{}` (`collsynth systems {}`), figures effective per direction.",
        sys.name, entry.name, entry.name
    );
    let _ = writeln!(out, "# {}", entry.summary);
    out.push_str("# Sources:\n");
    for s in &entry.sources {
        let _ = writeln!(out, "#   {s}");
    }
    out.push_str("axes = [ ");
    out.push_str(
        &axes
            .iter()
            .map(|(n, s)| format!("{{ name = {}, size = {s} }}", toml_string(n)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(" ]\n\n[system]\n");
    out.push_str(&system_text);
    for r in requests {
        let _ = write!(
            out,
            "\n[[request]]\ncollective = {}\naxes = [{}]\nbytes = {}\n",
            toml_string(&r.collective),
            r.axes
                .iter()
                .map(|a| toml_string(a))
                .collect::<Vec<_>>()
                .join(", "),
            toml_string(&r.bytes)
        );
        if let Some(c) = r.count {
            let _ = writeln!(out, "count = {c}");
        }
    }
    Ok(out)
}

/// The spec of [`problem_toml`], parsed by the spec reader itself (so it is what the
/// printed file gives), named [`COMMAND_LINE`].
pub fn problem_spec(toml: &str) -> Result<Spec, String> {
    spec::parse(&Source::new(COMMAND_LINE, toml), None).map_err(|e| {
        format!(
            "{}{} (in the problem --system, --axes and --collective describe; --print-spec writes it as a file)",
            e.message,
            e.help.map(|h| format!(": {h}")).unwrap_or_default()
        )
    })
}

// ---------------------------------------------------------------- listing

/// `collsynth systems --json`.
#[derive(Debug, Serialize)]
pub struct SystemsJson {
    /// Always 1.
    pub schema_version: u32,
    /// The entries, in listing order.
    pub systems: Vec<SystemJson>,
}

/// One entry in `systems --json`.
#[derive(Debug, Serialize)]
pub struct SystemJson {
    /// What `--system` takes.
    pub name: String,
    /// Other accepted names.
    pub aliases: Vec<String>,
    /// One line: GPUs, fabric, network.
    pub summary: String,
    /// What sizes it: `nodes`, `racks` or both.
    pub sized_by: Vec<Sizer>,
    /// Default nodes per rack (entries with both), else null.
    pub nodes_per_rack: Option<u64>,
    /// Launch cost, seconds.
    pub launch_s: f64,
    /// Levels, outermost first.
    pub levels: Vec<LevelJson>,
    /// Where the figures come from.
    pub sources: Vec<String>,
}

/// One level in `systems --json`.
#[derive(Debug, Serialize)]
pub struct LevelJson {
    /// Level name.
    pub name: String,
    /// Fixed arity, or null when sized.
    pub arity: Option<u64>,
    /// `nodes` or `racks` when sized, else null.
    pub sized_by: Option<Sizer>,
    /// Bandwidth per direction of one child's link, bytes/s (null when per node).
    pub bandwidth_bps: Option<f64>,
    /// A rack uplink's bandwidth per node in the rack, bytes/s, else null.
    pub bandwidth_per_node_bps: Option<f64>,
    /// Latency per hop, seconds.
    pub latency_s: f64,
    /// One device's limit over this link, bytes/s, else null.
    pub device_bandwidth_bps: Option<f64>,
}

fn bw(s: &Option<String>) -> Option<f64> {
    s.as_ref()
        .and_then(|b| Bandwidth::parse(b).ok())
        .map(|b| b.0)
}

fn secs(s: &str) -> f64 {
    Duration::parse(s).map(|d| d.0).unwrap_or(f64::NAN)
}

/// The entries (all, or the one named) as `systems --json` gives them.
pub fn systems_json(only: Option<&Entry>) -> SystemsJson {
    let list: Vec<&Entry> = match only {
        Some(e) => vec![e],
        None => entries().iter().collect(),
    };
    SystemsJson {
        schema_version: 1,
        systems: list
            .into_iter()
            .map(|e| SystemJson {
                name: e.name.clone(),
                aliases: e.aliases.clone(),
                summary: e.summary.clone(),
                sized_by: [Sizer::Nodes, Sizer::Racks]
                    .into_iter()
                    .filter(|&s| e.sized_by(s))
                    .collect(),
                nodes_per_rack: e.nodes_per_rack,
                launch_s: secs(&e.launch),
                levels: e
                    .levels
                    .iter()
                    .map(|l| LevelJson {
                        name: l.name.clone(),
                        arity: match l.arity {
                            Arity::Fixed(a) => Some(a),
                            Arity::Sized(_) => None,
                        },
                        sized_by: match l.arity {
                            Arity::Fixed(_) => None,
                            Arity::Sized(s) => Some(s),
                        },
                        bandwidth_bps: bw(&l.bandwidth),
                        bandwidth_per_node_bps: bw(&l.bandwidth_per_node),
                        latency_s: secs(&l.latency),
                        device_bandwidth_bps: bw(&l.device_bandwidth),
                    })
                    .collect(),
                sources: e.sources.clone(),
            })
            .collect(),
    }
}

/// The entries (all, or the one named) as text: name, summary, how to size it,
/// levels and sources.
pub fn systems_text(only: Option<&Entry>) -> String {
    let list: Vec<&Entry> = match only {
        Some(e) => vec![e],
        None => entries().iter().collect(),
    };
    let mut out = String::new();
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}  {}", e.name, e.summary);
        if !e.aliases.is_empty() {
            let _ = writeln!(out, "  also:    {}", e.aliases.join(", "));
        }
        let _ = writeln!(out, "  size:    --system {} {}", e.name, e.sizing());
        let levels: Vec<String> = e
            .levels
            .iter()
            .map(|l| {
                let arity = match l.arity {
                    Arity::Fixed(a) => a.to_string(),
                    Arity::Sized(Sizer::Nodes) if e.sized_by(Sizer::Racks) => "N/R".into(),
                    Arity::Sized(Sizer::Nodes) => "N".into(),
                    Arity::Sized(Sizer::Racks) => "R".into(),
                };
                let b = match (&l.bandwidth, &l.bandwidth_per_node) {
                    (Some(b), _) => b.clone(),
                    (None, Some(p)) => format!("{p} per node"),
                    (None, None) => "?".into(),
                };
                let d = l
                    .device_bandwidth
                    .as_ref()
                    .map(|d| format!(" ({d} per device)"))
                    .unwrap_or_default();
                format!("{} {arity} @ {b}{d}, {}", l.name, l.latency)
            })
            .collect();
        let _ = writeln!(
            out,
            "  levels:  {} (launch {})",
            levels.join(" > "),
            format_seconds(secs(&e.launch))
        );
        for (j, s) in e.sources.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}{s}",
                if j == 0 { "sources: " } else { "         " }
            );
        }
    }
    out
}

// ---------------------------------------------------------------- warnings

/// NVLink (and Infinity Fabric) figures in GB/s, per direction, line and effective:
/// V100, A100, H100, B200 line rates and the measured or derived busbw figures.
const FABRIC_GBS: &[f64] = &[
    150.0, 235.0, 240.0, 300.0, 358.0, 370.0, 448.0, 450.0, 600.0, 720.0, 900.0, 1800.0,
];

/// The shortest and longest latency any interconnect hop or step has: 100 ns (an
/// NVLink hop is about 1 us as NCCL sees it) to 1 ms (a TCP step across a data
/// centre is tens of us).
const LATENCY_RANGE: (f64, f64) = (1e-7, 1e-3);
/// No link gives one device more than 2 TB/s per direction (NVLink5: 900 GB/s).
const MAX_DEVICE_BPS: f64 = 2e12;
/// No collective network is slower than 10 Gb/s per link.
const MIN_LINK_BPS: f64 = 1.25e9;

/// Plausibility warnings about a spec's figures (never errors): an inner level that
/// gives a device less than an outer one, a bandwidth that is a known figure in the
/// other unit (NVLink's `235 Gb/s`, a network 8 times a catalog entry's figure for
/// the same node), latencies and bandwidths outside what any interconnect has.
/// Each message names the level and what to check.
pub fn warnings(spec: &Spec) -> Vec<String> {
    let sys = &spec.system;
    let n = sys.levels.len();
    let mut out = Vec::new();
    let gbs = |b: f64| format!("{} GB/s", crate::units::trim_float(b / 1e9));
    // Devices below one child of each level, and what the level gives one device.
    let below: Vec<u64> = (0..n)
        .map(|i| sys.levels[i + 1..].iter().map(|l| l.arity).product())
        .collect();
    let share: Vec<f64> = (0..n)
        .map(|i| {
            let l = &sys.levels[i];
            (l.bandwidth_bps / below[i] as f64).min(l.device_bandwidth_bps.unwrap_or(f64::INFINITY))
        })
        .collect();
    for j in 1..n {
        if let Some(i) = (0..j).find(|&i| share[j] < share[i] * 0.999) {
            out.push(format!(
                "level `{}` gives each device {}, less than the outer level `{}` does ({}): inner links are faster in every real system; check the units (Gb/s is bits, GB/s bytes) and the order of the levels (outermost first)",
                sys.levels[j].name,
                gbs(share[j]),
                sys.levels[i].name,
                gbs(share[i])
            ));
        }
    }
    let inner = &sys.levels[n - 1];
    let as_gbit = inner.bandwidth_bps * 8.0 / 1e9;
    if inner.bandwidth_bps < 100e9 {
        if let Some(f) = FABRIC_GBS
            .iter()
            .find(|&&f| (as_gbit - f).abs() <= f * 0.005)
        {
            out.push(format!(
                "level `{}` has {} Gb/s ({}): links inside a node (NVLink, Infinity Fabric) are quoted in GB/s, and {f} GB/s is one of their figures: did you mean \"{f} GB/s\"?",
                inner.name,
                crate::units::trim_float(as_gbit),
                gbs(inner.bandwidth_bps)
            ));
        }
    }
    if n >= 2 {
        out.extend(network_unit_warning(sys));
    }
    for l in &sys.levels {
        if l.latency_s < LATENCY_RANGE.0 || l.latency_s > LATENCY_RANGE.1 {
            out.push(format!(
                "level `{}` has a latency of {}, outside what any interconnect has (0.1 us to 1 ms per hop; NVLink about 1 us, a network step about 5 us): check the unit (ns, us, ms)",
                l.name,
                format_seconds(l.latency_s)
            ));
        }
        if l.bandwidth_bps < MIN_LINK_BPS {
            out.push(format!(
                "level `{}` has {}, slower than any network a collective runs on (10 Gb/s = 1.25 GB/s): check the unit (MB/s, Mb/s, Gb/s)",
                l.name,
                gbs(l.bandwidth_bps)
            ));
        }
    }
    for (i, l) in sys.levels.iter().enumerate() {
        if share[i] > MAX_DEVICE_BPS {
            out.push(format!(
                "level `{}` gives each device {}, more than any link built (NVLink5: 900 GB/s per direction): check the unit and that the figure is per direction and per child",
                l.name,
                gbs(share[i])
            ));
        }
    }
    if sys.launch_s < LATENCY_RANGE.0 || sys.launch_s > LATENCY_RANGE.1 {
        out.push(format!(
            "the system's launch cost is {}, outside 0.1 us to 1 ms (a collective call costs a few us): check the unit",
            format_seconds(sys.launch_s)
        ));
    }
    out
}

/// The level just above the innermost against the catalog entries with the same
/// node (innermost arity and bandwidth): 8 times (or an eighth of) their figure, and
/// none equal, is a unit written wrong.
fn network_unit_warning(sys: &System) -> Option<String> {
    let n = sys.levels.len();
    let (inner, net) = (&sys.levels[n - 1], &sys.levels[n - 2]);
    let close = |a: f64, b: f64| (a - b).abs() <= b * 0.02;
    let mut same_node = vec![];
    for e in entries() {
        let Some((last, rest)) = e.levels.split_last() else {
            continue;
        };
        let (Arity::Fixed(a), Some(b)) = (last.arity, bw(&last.bandwidth)) else {
            continue;
        };
        if a != inner.arity || !close(inner.bandwidth_bps, b) {
            continue;
        }
        if let Some(nb) = rest.last().and_then(|l| bw(&l.bandwidth)) {
            same_node.push((e, nb));
        }
    }
    if same_node
        .iter()
        .any(|(_, nb)| close(net.bandwidth_bps, *nb))
    {
        return None;
    }
    let gbs = |b: f64| format!("{} GB/s", crate::units::trim_float(b / 1e9));
    same_node.iter().find_map(|(e, nb)| {
        let (ratio, guess) = if close(net.bandwidth_bps, nb * 8.0) {
            ("8 times", "GB/s where Gb/s was meant")
        } else if close(net.bandwidth_bps, nb / 8.0) {
            ("an eighth of", "Gb/s where GB/s was meant")
        } else {
            return None;
        };
        Some(format!(
            "level `{}` has {}, {ratio} the figure of built-in system `{}` ({} per {}, `collsynth systems {}`), whose nodes are the same ({} x {}): was it written in {guess}?",
            net.name,
            gbs(net.bandwidth_bps),
            e.name,
            gbs(*nb),
            e.levels[e.levels.len() - 2].name,
            e.name,
            inner.arity,
            gbs(inner.bandwidth_bps)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_at_several_sizes_and_cites_sources() {
        for e in entries() {
            assert!(e.sources.len() >= 2, "{} cites its sources", e.name);
            let sizes: &[SystemSize] = &[
                SystemSize {
                    nodes: Some(2),
                    racks: None,
                },
                SystemSize {
                    nodes: Some(16),
                    racks: None,
                },
                SystemSize {
                    nodes: None,
                    racks: Some(2),
                },
                SystemSize {
                    nodes: Some(64),
                    racks: Some(2),
                },
            ];
            let mut built = 0;
            for &s in sizes {
                if let Ok(sys) = e.system(s) {
                    built += 1;
                    assert!(sys.devices() >= 8, "{}: {sys:?}", e.name);
                }
            }
            assert!(built >= 1, "{} builds at some size", e.name);
        }
    }

    #[test]
    fn sizes_follow_the_flags() {
        let h = find("dgx-h100").unwrap();
        let s = h
            .system(SystemSize {
                nodes: Some(16),
                racks: None,
            })
            .unwrap();
        assert_eq!(s.devices(), 128);
        assert_eq!(s.name, "16 x DGX H100");
        assert_eq!(s.levels[0].device_bandwidth_bps, Some(47e9));
        assert!(h
            .system(SystemSize::default())
            .unwrap_err()
            .contains("--nodes N"));
        assert!(h
            .system(SystemSize {
                nodes: Some(2),
                racks: Some(1)
            })
            .unwrap_err()
            .contains("has no racks"));
        let r = find("rail-h100-cluster").unwrap();
        let s = r
            .system(SystemSize {
                nodes: Some(128),
                racks: None,
            })
            .unwrap();
        assert_eq!(
            s.levels.iter().map(|l| l.arity).collect::<Vec<_>>(),
            vec![4, 32, 8]
        );
        assert_eq!(s.levels[0].bandwidth_bps, 32.0 * 376e9);
        let s = r
            .system(SystemSize {
                nodes: Some(16),
                racks: Some(2),
            })
            .unwrap();
        assert_eq!(s.levels[0].bandwidth_bps, 8.0 * 376e9);
        // One rack: the rack level carries nothing and is left out.
        let s = r
            .system(SystemSize {
                nodes: Some(16),
                racks: None,
            })
            .unwrap();
        assert_eq!(s.levels.len(), 2);
        assert!(r
            .system(SystemSize {
                nodes: Some(40),
                racks: None
            })
            .is_err());
        let nvl = find("gb200-nvl72").unwrap();
        assert_eq!(
            nvl.system(SystemSize {
                nodes: None,
                racks: Some(4)
            })
            .unwrap()
            .devices(),
            288
        );
        assert!(nvl
            .system(SystemSize {
                nodes: Some(4),
                racks: None
            })
            .unwrap_err()
            .contains("sized by racks"));
    }

    #[test]
    fn unknown_names_get_a_suggestion_and_the_list() {
        let e = find("dgx-h10").unwrap_err();
        assert!(e.contains("did you mean `dgx-h100`?"), "{e}");
        assert!(e.contains("collsynth systems"), "{e}");
        assert!(find("p5.48xlarge").is_ok());
    }

    #[test]
    fn flags_parse_or_say_what_to_write() {
        assert_eq!(
            parse_axes_flag("data=8,model=4").unwrap(),
            vec![("data".to_string(), 8), ("model".to_string(), 4)]
        );
        assert!(parse_axes_flag("data:8").unwrap_err().contains("NAME=SIZE"));
        assert!(parse_axes_flag("data=0").is_err());
        assert!(parse_axes_flag("data=2,data=2").is_err());
        let r = parse_collective_flag("all_reduce:data+pipe:2GB:4").unwrap();
        assert_eq!(r.axes, vec!["data", "pipe"]);
        assert_eq!(r.count, Some(4));
        assert!(parse_collective_flag("all_reduce:data").is_err());
        assert!(parse_collective_flag("all_reduce:data:2\"GB").is_err());
        assert!(parse_collective_flag("all_reduce:data:2GB:x").is_err());
    }

    #[test]
    fn catalog_entries_raise_no_warnings() {
        for e in entries() {
            for s in [
                SystemSize {
                    nodes: Some(4),
                    racks: None,
                },
                SystemSize {
                    nodes: None,
                    racks: Some(4),
                },
                SystemSize {
                    nodes: Some(256),
                    racks: None,
                },
            ] {
                let Ok(system) = e.system(s) else { continue };
                let spec = Spec {
                    source: "t".into(),
                    axes: vec![],
                    system,
                    requests: vec![],
                };
                assert_eq!(warnings(&spec), Vec::<String>::new(), "{}", e.name);
            }
        }
    }
}
