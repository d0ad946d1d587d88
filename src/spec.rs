//! Spec files: the system hierarchy, the parallelism axes and the requests, read from
//! TOML (see `docs/design.md`, §5.1) and validated into [`Spec`].
//!
//! Reading happens in two stages, as in ripgrep's argument handling: serde reads the
//! syntax into `Raw*` structs that keep every value's place in the file, then
//! [`parse`] turns them into a [`Spec`] or an [`InputError`] naming file, line,
//! column and what to change.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::source::{InputError, Source};
use crate::units::{parse_size, Bandwidth, Duration};

/// The largest system collsynth accepts: 2^40 devices.
pub const MAX_DEVICES: u128 = 1 << 40;
/// The most levels a system may have: 8 (real clusters have at most 5; every level
/// multiplies the placements and the reduction dims synthesis works on).
pub const MAX_LEVELS: usize = 8;
/// The most parallelism axes: 8 (Megatron-style jobs use up to 5 or 6).
pub const MAX_AXES: usize = 8;

/// The default spec compiled into the binary: 4 × DGX A100, data = 8, model = 4,
/// all_reduce over data of 1 GB.
pub const DEFAULT_SPEC: &str = include_str!("../specs/default.toml");
/// What the embedded default is called in messages.
pub const DEFAULT_SPEC_NAME: &str = "<embedded default spec>";

/// A validated problem: system, axes and requests.
///
/// ```
/// use collsynth::source::Source;
/// use collsynth::spec;
///
/// let text = r#"
/// axes = [ { name = "data", size = 8 }, { name = "model", size = 2 } ]
/// [system]
/// name = "2 x DGX A100"
/// levels = [
///   { name = "node", arity = 2, bandwidth = "100 GB/s", latency = "5 us" },
///   { name = "gpu",  arity = 8, bandwidth = "235 GB/s", latency = "1 us" },
/// ]
/// [[request]]
/// collective = "all_reduce"
/// axes = ["data"]
/// bytes = "1 GB"
/// "#;
/// let s = spec::parse(&Source::new("example.toml", text), None).unwrap();
/// assert_eq!(s.devices(), 16);
/// assert_eq!(s.requests[0].bytes, 1_000_000_000);
///
/// // Bad input names the file, line and column and says what to change.
/// let bad = spec::parse(&Source::new("bad.toml", &text.replace("size = 2", "size = 3")), None);
/// assert!(bad.unwrap_err().to_string().starts_with("bad.toml:2:"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Where the spec came from (a path or the embedded default's name).
    pub source: String,
    /// Parallelism axes in spec order; the product of sizes is the device count.
    pub axes: Vec<Axis>,
    /// The hierarchy.
    pub system: System,
    /// What to reduce, in file order.
    pub requests: Vec<Request>,
}

/// A parallelism axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// Name, `[a-z][a-z0-9_]*`.
    pub name: String,
    /// Number of coordinates.
    pub size: u64,
}

/// A system hierarchy, outermost level first.
#[derive(Debug, Clone, PartialEq)]
pub struct System {
    /// Display name.
    pub name: String,
    /// Fixed cost of one collective call, seconds.
    pub launch_s: f64,
    /// Device-local copy bandwidth, bytes/s: what a local relayout of a buffer moves
    /// per second (`copy_bandwidth`, default [`DEFAULT_COPY_BANDWIDTH_BPS`];
    /// docs/cost-model.md, "Relayout").
    pub copy_bandwidth_bps: f64,
    /// Levels, outermost first.
    pub levels: Vec<Level>,
}

/// The default device-local copy bandwidth, 1 TB/s: H100 SXM's HBM3 gives 3.35 TB/s
/// (NVIDIA H100 datasheet), a copy reads and writes every byte (halving it), and a
/// block permutation's strided copy reaches well under that peak.
pub const DEFAULT_COPY_BANDWIDTH_BPS: f64 = 1e12;

/// One level of the hierarchy and the link of each of its child subtrees.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Name, `[a-z][a-z0-9_]*`.
    pub name: String,
    /// Children per parent.
    pub arity: u64,
    /// Effective bandwidth per direction of one child subtree's link, bytes/s.
    pub bandwidth_bps: f64,
    /// Latency of one hop over this level's link, seconds.
    pub latency_s: f64,
    /// The most one device's own traffic may use of this level's link, bytes/s per
    /// direction (its own NIC on a rail-optimized node); `None`: no per-device limit.
    pub device_bandwidth_bps: Option<f64>,
}

/// The collective a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// Every device ends with the sum over its reduction group.
    AllReduce,
    /// Every device starts with the whole buffer and ends holding (at least) its
    /// shard, summed over its reduction group (docs/design.md, "Shards").
    ReduceScatter,
    /// Every device starts holding only its shard of its own data and ends with the
    /// whole buffer, chunk `j` from the group member whose shard number is `j`.
    AllGather,
    /// Every device sends its buffer to the next device along one axis (pipeline
    /// stages); priced, never synthesized.
    SendRecv,
}

impl RequestKind {
    /// Whether programs are written, synthesized, verified and priced for it
    /// (everything but send_recv, which is only priced).
    pub fn takes_programs(self) -> bool {
        !matches!(self, RequestKind::SendRecv)
    }

    /// Whether the request's axis order is part of it: it numbers the shards.
    pub fn is_sharded(self) -> bool {
        matches!(self, RequestKind::ReduceScatter | RequestKind::AllGather)
    }

    /// The kind written `name` in specs and lowered JSON.
    pub fn from_name(name: &str) -> Option<RequestKind> {
        Some(match name {
            "all_reduce" => RequestKind::AllReduce,
            "reduce_scatter" => RequestKind::ReduceScatter,
            "all_gather" => RequestKind::AllGather,
            "send_recv" => RequestKind::SendRecv,
            _ => return None,
        })
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestKind::AllReduce => "all_reduce",
            RequestKind::ReduceScatter => "reduce_scatter",
            RequestKind::AllGather => "all_gather",
            RequestKind::SendRecv => "send_recv",
        })
    }
}

/// A request: a collective over some axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The collective.
    pub collective: RequestKind,
    /// Indices into [`Spec::axes`], without repeats: in spec axis order for
    /// all_reduce and send_recv; in the order the request lists them for
    /// reduce_scatter and all_gather, whose shard numbering it fixes (first most
    /// significant).
    pub axes: Vec<usize>,
    /// Buffer size per device (for reduce_scatter and all_gather, the whole,
    /// unsharded buffer; a multiple of the shard count).
    pub bytes: u64,
    /// How often per training step.
    pub count: u64,
    /// The share of its time on the critical path, in millionths (1,000,000: all of
    /// it; a gradient all_reduce that overlaps the backward pass has less).
    pub exposed_ppm: u32,
}

impl Request {
    /// The shard count `G`: the product of the requested axes' sizes.
    pub fn shards(&self, spec: &Spec) -> u64 {
        self.axes
            .iter()
            .fold(1u64, |g, &a| g.saturating_mul(spec.axes[a].size))
    }

    /// The requested axes in spec axis order: the reduction group's axes as a set.
    pub fn axis_set(&self) -> Vec<usize> {
        let mut a = self.axes.clone();
        a.sort_unstable();
        a
    }

    /// The share of its time on the critical path, in (0, 1].
    pub fn exposed(&self) -> f64 {
        f64::from(self.exposed_ppm) / 1e6
    }

    /// `count × exposed`: the weight of the request's time in a placement's score.
    pub fn weight(&self) -> f64 {
        self.count as f64 * self.exposed()
    }
}

impl System {
    /// Number of devices: the product of the arities.
    pub fn devices(&self) -> u64 {
        self.levels.iter().map(|l| l.arity).product()
    }
}

impl Spec {
    /// One line describing the spec: name, devices, levels and axes.
    pub fn header(&self) -> String {
        format!(
            "{} ({}): {} devices = {}; axes {}",
            if self.system.name.is_empty() {
                "system"
            } else {
                &self.system.name
            },
            self.source,
            self.devices(),
            self.system
                .levels
                .iter()
                .map(|l| format!("{} {}", l.name, l.arity))
                .collect::<Vec<_>>()
                .join(" > "),
            self.axes
                .iter()
                .map(|a| format!("{} = {}", a.name, a.size))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Number of devices.
    pub fn devices(&self) -> u64 {
        self.system.devices()
    }

    /// The index of an axis by name.
    pub fn axis_index(&self, name: &str) -> Option<usize> {
        self.axes.iter().position(|a| a.name == name)
    }

    /// The index of a level by name.
    pub fn level_index(&self, name: &str) -> Option<usize> {
        self.system.levels.iter().position(|l| l.name == name)
    }

    /// A request described in words: `all_reduce over data (1 GB, count 1)`.
    pub fn describe_request(&self, r: &Request) -> String {
        format!(
            "{} over {}",
            r.collective,
            r.axes
                .iter()
                .map(|&a| self.axes[a].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The embedded default spec.
    pub fn embedded_default() -> Spec {
        parse(&Source::new(DEFAULT_SPEC_NAME, DEFAULT_SPEC), None)
            .expect("the embedded default spec is valid (tested)")
    }

    /// Reads and validates a spec file (and the system file it may point to).
    pub fn load(path: &Path) -> Result<Spec, InputError> {
        let source = read_source(path, "spec")?;
        parse(&source, path.parent())
    }
}

fn read_source(path: &Path, what: &str) -> Result<Source, InputError> {
    crate::source::read_file(
        path,
        what,
        "check the path; example specs are in specs/, and without --spec the embedded default is used",
    )
}

// ---------------------------------------------------------------- raw syntax

/// The keys TOML allows at the top of a spec, before any table header.
const TOP_LEVEL_KEYS: &[&str] = &["axes", "system", "nodes", "racks"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    axes: Option<Spanned<Vec<Spanned<RawAxis>>>>,
    system: Option<Spanned<RawSystemRef>>,
    nodes: Option<Spanned<i64>>,
    racks: Option<Spanned<i64>>,
    request: Option<Vec<Spanned<RawRequest>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    name: Spanned<String>,
    size: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    name: Option<Spanned<String>>,
    launch: Option<Spanned<Scalar>>,
    copy_bandwidth: Option<Spanned<Scalar>>,
    levels: Option<Spanned<Vec<Spanned<RawLevel>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    name: Spanned<String>,
    arity: Spanned<i64>,
    bandwidth: Spanned<Scalar>,
    latency: Spanned<Scalar>,
    device_bandwidth: Option<Spanned<Scalar>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    collective: Spanned<String>,
    axes: Spanned<Vec<Spanned<AxisName>>>,
    bytes: Spanned<Scalar>,
    count: Option<Spanned<i64>>,
    exposed: Option<Spanned<Scalar>>,
}

/// `system` is either a table or a path to a file holding the table's keys.
enum RawSystemRef {
    Inline(RawSystem),
    Path(String),
}

impl<'de> Deserialize<'de> for RawSystemRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSystemRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [system] table or a path string to a system file")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawSystemRef::Path(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawSystem::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawSystemRef::Inline)
            }
        }
        d.deserialize_any(V)
    }
}

/// A request axis: an axis name. A table here means the spec's `axes` list landed
/// inside a `[[request]]` table; say so.
struct AxisName(String);

impl<'de> Deserialize<'de> for AxisName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AxisName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an axis name (a string)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AxisName(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(de::Error::custom(
                    "a request's `axes` lists axis names, like [\"data\"]; this looks like the \
                     spec's top-level `axes = [ { name = ..., size = ... } ]`, which TOML put \
                     inside the [[request]] table because it comes after that header: move it \
                     to the top of the file, before the first table header",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that should be a quantity with a unit; numbers are read so that a missing
/// unit gets its own message rather than a type error.
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity with a unit, like \"100 GB/s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------- validation

/// Parses and validates spec text. `dir` resolves a `system = "path"` reference.
/// A `system = "catalog:NAME"` reference is refused here: the catalog lives above
/// this module, so [`parse_with_catalog`] is given it (`catalog::parse_spec` does).
pub fn parse(source: &Source, dir: Option<&Path>) -> Result<Spec, InputError> {
    parse_with_catalog(source, dir, None)
}

/// What sizes a built-in system: the spec's `nodes` and `racks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemSize {
    /// Nodes in all (`nodes = 16`, `--nodes 16`).
    pub nodes: Option<u64>,
    /// Racks (`racks = 2`, `--racks 2`), for systems that have racks.
    pub racks: Option<u64>,
}

/// Resolves `system = "catalog:NAME"`: the name after `catalog:` and the spec's size
/// to the system, or a message saying what to change.
pub type CatalogLookup<'a> = &'a dyn Fn(&str, SystemSize) -> Result<System, String>;

/// [`parse`], resolving `system = "catalog:NAME"` (with the spec's `nodes` and
/// `racks`) through `catalog`.
pub fn parse_with_catalog(
    source: &Source,
    dir: Option<&Path>,
    catalog: Option<CatalogLookup>,
) -> Result<Spec, InputError> {
    let raw: RawSpec = from_toml(source)?;
    let (axes, axes_span) = parse_axes(source, raw.axes)?;
    let size = SystemSize {
        nodes: raw
            .nodes
            .as_ref()
            .map(|n| positive_int(source, n, "`nodes`"))
            .transpose()?,
        racks: raw
            .racks
            .as_ref()
            .map(|n| positive_int(source, n, "`racks`"))
            .transpose()?,
    };
    let is_catalog = matches!(
        raw.system.as_ref().map(|s| s.get_ref()),
        Some(RawSystemRef::Path(p)) if p.starts_with(CATALOG_PREFIX)
    );
    if !is_catalog {
        if let Some(k) = raw.nodes.as_ref().or(raw.racks.as_ref()) {
            return Err(source.error(
                k.span(),
                "`nodes` and `racks` size a built-in system (`system = \"catalog:NAME\"`, see `collsynth systems`); this spec's system gives its own arities: remove the key",
            ));
        }
    }
    let system = parse_system_ref(source, dir, raw.system, size, catalog)?;
    check_axis_product(source, &axes, axes_span, &system)?;
    let requests = raw
        .request
        .unwrap_or_default()
        .into_iter()
        .map(|r| parse_request(source, &axes, r.into_inner()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Spec {
        source: source.name.clone(),
        axes,
        system,
        requests,
    })
}

/// The `axes` array, validated, and its span.
fn parse_axes(
    source: &Source,
    raw_axes: Option<Spanned<Vec<Spanned<RawAxis>>>>,
) -> Result<(Vec<Axis>, Range<usize>), InputError> {
    let at = |span: Range<usize>, msg: String| source.error(span, msg);
    let Some(raw_axes) = raw_axes else {
        return Err(InputError::file(&source.name, "the spec has no `axes`").with_help(
            "add `axes = [ { name = \"data\", size = 8 } ]` at the top of the file, before any table header",
        ));
    };
    let axes_span = raw_axes.span();
    if raw_axes.get_ref().is_empty() {
        return Err(at(
            axes_span,
            "`axes` is empty: name at least one axis".into(),
        ));
    }
    if raw_axes.get_ref().len() > MAX_AXES {
        return Err(at(
            axes_span,
            format!(
                "the spec has {} axes; collsynth handles at most {MAX_AXES}: merge axes that always move together",
                raw_axes.get_ref().len()
            ),
        ));
    }
    let mut axes = Vec::new();
    for a in raw_axes.into_inner() {
        let a = a.into_inner();
        check_name(source, &a.name, "axis")?;
        if axes.iter().any(|x: &Axis| x.name == *a.name.get_ref()) {
            return Err(at(
                a.name.span(),
                format!(
                    "axis `{}` is named twice: axis names must be unique",
                    a.name.get_ref()
                ),
            ));
        }
        let size = positive_int(source, &a.size, "an axis size")?;
        axes.push(Axis {
            name: a.name.into_inner(),
            size,
        });
    }

    Ok((axes, axes_span))
}

/// How a spec names a built-in system: `system = "catalog:dgx-h100"`.
pub const CATALOG_PREFIX: &str = "catalog:";

/// The `[system]` table, or the system file `system = "path"` names (relative to the
/// spec's folder `dir`).
fn parse_system_ref(
    source: &Source,
    dir: Option<&Path>,
    raw: Option<Spanned<RawSystemRef>>,
    size: SystemSize,
    catalog: Option<CatalogLookup>,
) -> Result<System, InputError> {
    let at = |span: Range<usize>, msg: String| source.error(span, msg);
    let Some(sys_ref) = raw else {
        return Err(InputError::file(&source.name, "the spec has no `system`").with_help(
            "add a [system] table with `name` and `levels`, or `system = \"path/to/system.toml\"` before any table header",
        ));
    };
    let sys_span = sys_ref.span();
    Ok(match sys_ref.into_inner() {
        RawSystemRef::Inline(s) => validate_system(source, s, sys_span)?,
        RawSystemRef::Path(p) if p.starts_with(CATALOG_PREFIX) => {
            let name = &p[CATALOG_PREFIX.len()..];
            let Some(lookup) = catalog else {
                return Err(at(
                    sys_span,
                    format!("`system = \"{p}\"` names a built-in system, which this reader does not resolve: read the spec with the collsynth command (or `collsynth::catalog::parse_spec`)"),
                ));
            };
            lookup(name, size).map_err(|m| at(sys_span, m))?
        }
        RawSystemRef::Path(p) => {
            let path = dir.unwrap_or(Path::new(".")).join(&p);
            // The error points at `system = "..."` in the spec, where the fix goes.
            let sys_source = read_source(&path, "system").map_err(|e| {
                at(
                    sys_span.clone(),
                    format!("system file `{}`: {}", path.display(), e.message),
                )
                .with_help(format!(
                    "`system = \"{p}\"` is resolved relative to the spec's folder: fix the path, or write the system inline as a [system] table"
                ))
            })?;
            let raw_sys: RawSystem = from_toml(&sys_source)?;
            validate_system(&sys_source, raw_sys, 0..0)?
        }
    })
}

/// The axis sizes must multiply to the device count.
fn check_axis_product(
    source: &Source,
    axes: &[Axis],
    axes_span: Range<usize>,
    system: &System,
) -> Result<(), InputError> {
    let at = |span: Range<usize>, msg: String| source.error(span, msg);
    let devices: u128 = system.levels.iter().map(|l| l.arity as u128).product();
    // Saturating: sizes are up to 2^63 each, so a plain product can overflow u128.
    let axis_product = axes
        .iter()
        .fold(1u128, |p, a| p.saturating_mul(a.size as u128));
    if axis_product != devices {
        return Err(at(
            axes_span,
            format!(
                "the axis sizes multiply to {} ({}), but the system has {} devices ({}): change \
                 the axis sizes so that their product is {}",
                if axis_product > MAX_DEVICES {
                    "more than 2^40".to_string()
                } else {
                    axis_product.to_string()
                },
                axes.iter()
                    .map(|a| a.size.to_string())
                    .collect::<Vec<_>>()
                    .join(" × "),
                devices,
                system
                    .levels
                    .iter()
                    .map(|l| l.arity.to_string())
                    .collect::<Vec<_>>()
                    .join(" × "),
                devices
            ),
        ));
    }

    Ok(())
}

/// One `[[request]]`, validated against the axes.
fn parse_request(source: &Source, axes: &[Axis], r: RawRequest) -> Result<Request, InputError> {
    let at = |span: Range<usize>, msg: String| source.error(span, msg);
    let Some(collective) = RequestKind::from_name(r.collective.get_ref()) else {
        return Err(at(
            r.collective.span(),
            format!(
                "`{}` is not a request collective: use `all_reduce`, `reduce_scatter`, `all_gather` or `send_recv`",
                r.collective.get_ref()
            ),
        ));
    };
    if collective == RequestKind::SendRecv && r.axes.get_ref().len() > 1 {
        return Err(at(
            r.axes.span(),
            "a `send_recv` request names exactly one axis (the pipeline axis along which each device sends to the next stage), like [\"pipe\"]".into(),
        ));
    }
    if r.axes.get_ref().is_empty() {
        return Err(at(
            r.axes.span(),
            "the request's `axes` is empty: name at least one axis to reduce over, like [\"data\"]"
                .into(),
        ));
    }
    let mut idx = Vec::new();
    for a in r.axes.get_ref() {
        let name = &a.get_ref().0;
        let Some(i) = axes.iter().position(|x| x.name == *name) else {
            return Err(at(
                a.span(),
                format!(
                    "the request names axis `{name}`, which the spec does not have: {}use one of {}",
                    crate::source::suggestion(name, axes.iter().map(|x| x.name.as_str())),
                    axes.iter()
                        .map(|x| format!("`{}`", x.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if idx.contains(&i) {
            return Err(at(
                a.span(),
                format!("the request names axis `{name}` twice: name each axis once"),
            ));
        }
        idx.push(i);
    }
    if !collective.is_sharded() {
        idx.sort_unstable();
    }
    let bytes = size_of(source, &r.bytes)?;
    if collective.is_sharded() {
        let shards = idx
            .iter()
            .fold(1u64, |g, &a| g.saturating_mul(axes[a].size));
        if !bytes.is_multiple_of(shards) {
            return Err(at(
                r.bytes.span(),
                format!(
                    "the `{collective}` request's `bytes` ({bytes}) is the whole buffer, cut into {shards} equal shards (the product of its axes' sizes), but {bytes} is not a multiple of {shards}: give a multiple of {shards}, like {}",
                    (bytes / shards).max(1) * shards
                ),
            ));
        }
    }
    let count = match &r.count {
        Some(c) => {
            let n = positive_int(source, c, "a request count")?;
            if n > MAX_COUNT {
                return Err(source.error(
                    c.span(),
                    format!("{n} is too large a request count: a request runs at most {MAX_COUNT} times per training step; a larger figure is a unit mix-up (count per step, not per run)"),
                ));
            }
            n
        }
        None => 1,
    };
    let exposed_ppm = match &r.exposed {
        Some(e) => exposed_of(source, e)?,
        None => 1_000_000,
    };
    Ok(Request {
        collective,
        axes: idx,
        bytes,
        count,
        exposed_ppm,
    })
}

/// `exposed`: a number in (0, 1], exact to a millionth.
fn exposed_of(source: &Source, v: &Spanned<Scalar>) -> Result<u32, InputError> {
    let refuse = |what: String| {
        source.error(
            v.span(),
            format!("`exposed` is {what}: give the share of the request's time on the critical path, a number in (0, 1] like 0.4 (1, the default, when nothing hides it)"),
        )
    };
    let text = match v.get_ref() {
        Scalar::Int(n) => n.to_string(),
        Scalar::Float(x) => format!("{x}"),
        Scalar::Str(s) => return Err(refuse(format!("the text \"{s}\""))),
    };
    let ppm = parse_millionths(&text).ok_or_else(|| refuse(text.clone()))?;
    if ppm == 0 || ppm > 1_000_000 {
        return Err(refuse(format!("{text}, outside (0, 1]")));
    }
    Ok(ppm as u32)
}

/// A decimal number as an exact count of millionths (`0.4` → 400000); `None` when
/// it is not a plain decimal or has more than six decimals.
fn parse_millionths(t: &str) -> Option<u64> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u64 = format!("{frac:0<6}").parse().ok()?;
    i.checked_mul(1_000_000)?.checked_add(f)
}

fn validate_system(
    source: &Source,
    raw: RawSystem,
    span: Range<usize>,
) -> Result<System, InputError> {
    let at = |span: Range<usize>, msg: String| source.error(span, msg);
    let name = raw.name.map(|n| n.into_inner()).unwrap_or_default();
    let launch_s = match &raw.launch {
        Some(l) => duration_of(source, l)?,
        None => 5e-6,
    };
    let copy_bandwidth_bps = match &raw.copy_bandwidth {
        Some(b) => bandwidth_of(source, b)?,
        None => DEFAULT_COPY_BANDWIDTH_BPS,
    };
    let Some(raw_levels) = raw.levels else {
        return Err(at(
            span,
            "the system has no `levels`: add `levels = [ { name = \"node\", arity = 4, bandwidth = \"100 GB/s\", latency = \"5 us\" }, ... ]`, outermost first".into(),
        ));
    };
    let levels_span = raw_levels.span();
    if raw_levels.get_ref().is_empty() {
        return Err(at(
            levels_span,
            "`levels` is empty: give at least one level".into(),
        ));
    }
    if raw_levels.get_ref().len() > MAX_LEVELS {
        return Err(at(
            levels_span,
            format!(
                "the system has {} levels; collsynth handles at most {MAX_LEVELS}: merge levels whose links are alike",
                raw_levels.get_ref().len()
            ),
        ));
    }
    let mut levels: Vec<Level> = Vec::new();
    let mut devices: u128 = 1;
    for l in raw_levels.into_inner() {
        let l = l.into_inner();
        check_name(source, &l.name, "level")?;
        if levels.iter().any(|x| x.name == *l.name.get_ref()) {
            return Err(at(
                l.name.span(),
                format!(
                    "level `{}` is named twice: level names must be unique",
                    l.name.get_ref()
                ),
            ));
        }
        let arity = positive_int(source, &l.arity, "a level arity")?;
        devices = devices.saturating_mul(arity as u128);
        if devices > MAX_DEVICES {
            return Err(at(
                l.arity.span(),
                format!(
                    "the system has more than 2^40 devices ({}{}); collsynth handles up to 2^40: use smaller arities",
                    if devices == u128::MAX { "over " } else { "" },
                    devices
                ),
            ));
        }
        levels.push(Level {
            name: l.name.into_inner(),
            arity,
            bandwidth_bps: bandwidth_of(source, &l.bandwidth)?,
            latency_s: duration_of(source, &l.latency)?,
            device_bandwidth_bps: l
                .device_bandwidth
                .as_ref()
                .map(|b| bandwidth_of(source, b))
                .transpose()?,
        });
    }
    Ok(System {
        name,
        launch_s,
        copy_bandwidth_bps,
        levels,
    })
}

/// Runs serde over the text and turns its errors into located ones, recognizing a
/// top-level key that landed inside a table.
fn from_toml<T: serde::de::DeserializeOwned>(source: &Source) -> Result<T, InputError> {
    toml::from_str(&source.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = e.message().trim().to_string();
        let mut err = source.error(span.clone(), msg.clone());
        let landed = TOP_LEVEL_KEYS
            .iter()
            .find(|k| msg.starts_with(&format!("unknown field `{k}`")));
        if let Some(key) = landed {
            err.message = format!(
                "`{key}` is a top-level key, but it comes after a table header, so TOML put it inside that table"
            );
            err.help = Some(format!(
                "move `{key} = ...` to the top of the file, before the first `[...]` line"
            ));
        } else if msg.starts_with("unknown field") {
            err.help = Some("remove or rename the key; the expected keys are listed above".into());
        } else if msg.starts_with("missing field") {
            err.help = Some("add the missing key to this table".into());
        } else if msg.starts_with("invalid type") {
            let header = source.text.get(span.clone()).unwrap_or("");
            if header.trim_start().starts_with("[axes]") {
                err.message = "`axes` is written as a table, but it is a list (its order is the axis order)".into();
                err.help = Some("write `axes = [ { name = \"data\", size = 8 }, ... ]` at the top of the file, before the first table header".into());
            } else {
                let want = msg
                    .rsplit("expected ")
                    .next()
                    .unwrap_or("")
                    .replace("i64", "a whole number (without quotes)");
                err.help = Some(format!("write this value as {want}"));
            }
        } else if msg.starts_with("duplicate key") {
            err.help = Some("a key may appear once per table: remove or rename one of them".into());
        } else if !msg.contains("move it") {
            err.help = Some(
                "this is not valid TOML here: spec files are TOML like specs/default.toml (strings in quotes, `key = value`, tables start with `[name]`)".into(),
            );
        }
        err
    })
}

fn check_name(source: &Source, name: &Spanned<String>, what: &str) -> Result<(), InputError> {
    let n = name.get_ref();
    let mut chars = n.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if ok {
        Ok(())
    } else {
        Err(source.error(
            name.span(),
            format!(
                "`{n}` is not a valid {what} name: names start with a lowercase letter and use only a-z, 0-9 and _"
            ),
        ))
    }
}

/// The most times a request may run per training step (`count`): far above the
/// per-step collectives of any model (a layer count times micro-batches), and small
/// enough that `count × time` stays a readable figure.
pub const MAX_COUNT: u64 = 1_000_000;

fn positive_int(source: &Source, v: &Spanned<i64>, what: &str) -> Result<u64, InputError> {
    let n = *v.get_ref();
    if n <= 0 {
        return Err(source.error(
            v.span(),
            format!("{n} is not positive: {what} must be a whole number of at least 1"),
        ));
    }
    Ok(n as u64)
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Str(s) => s.clone(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    }
}

fn bandwidth_of(source: &Source, v: &Spanned<Scalar>) -> Result<f64, InputError> {
    Bandwidth::parse(&scalar_text(v.get_ref()))
        .map(|b| b.0)
        .map_err(|e| source.error(v.span(), e.0))
}

fn duration_of(source: &Source, v: &Spanned<Scalar>) -> Result<f64, InputError> {
    Duration::parse(&scalar_text(v.get_ref()))
        .map(|d| d.0)
        .map_err(|e| source.error(v.span(), e.0))
}

fn size_of(source: &Source, v: &Spanned<Scalar>) -> Result<u64, InputError> {
    match v.get_ref() {
        Scalar::Int(n) if *n <= 0 => Err(source.error(
            v.span(),
            format!("{n} is not positive: `bytes` must be at least 1 (or a size like \"1 GB\")"),
        )),
        Scalar::Float(_) => Err(source.error(
            v.span(),
            "`bytes` is a whole number of bytes or a size with a unit, like \"1 GB\"".to_string(),
        )),
        // An integer is read from its literal: past i64 the TOML reader saturates,
        // and the message must echo what the user wrote.
        Scalar::Int(i) => {
            let literal = source.text.get(v.span()).unwrap_or_default().trim();
            let decimal =
                !literal.is_empty() && literal.chars().all(|c| c.is_ascii_digit() || c == '_');
            let text = if decimal {
                literal.to_string()
            } else {
                i.to_string()
            };
            parse_size(&text).map_err(|e| source.error(v.span(), e.0))
        }
        s => parse_size(&scalar_text(s)).map_err(|e| source.error(v.span(), e.0)),
    }
}

/// Where a spec comes from on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// A file.
    File(PathBuf),
    /// The embedded default.
    Default,
}

impl SpecSource {
    /// Loads the spec.
    pub fn load(&self) -> Result<Spec, InputError> {
        match self {
            SpecSource::File(p) => Spec::load(p),
            SpecSource::Default => Ok(Spec::embedded_default()),
        }
    }
}

/// Reads and validates a system file (the keys of a spec's `[system]` table: `name`,
/// `launch`, `levels`), as `system = "path"` in a spec refers to.
pub fn load_system(path: &Path) -> Result<System, InputError> {
    let source = read_source(path, "system")?;
    parse_system(&source)
}

/// Parses and validates system-file text.
pub fn parse_system(source: &Source) -> Result<System, InputError> {
    let raw: RawSystem = from_toml(source)?;
    validate_system(source, raw, 0..0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_the_design_example() {
        let s = Spec::embedded_default();
        assert_eq!(s.devices(), 32);
        assert_eq!(s.axes.len(), 2);
        assert_eq!(s.axes[0].name, "data");
        assert_eq!(s.axes[0].size, 8);
        assert_eq!(s.requests.len(), 1);
        assert_eq!(s.requests[0].axes, vec![0]);
        assert_eq!(s.requests[0].bytes, 1_000_000_000);
        assert_eq!(s.system.levels[0].bandwidth_bps, 100e9);
        assert_eq!(s.system.levels[1].bandwidth_bps, 235e9);
        assert!((s.system.launch_s - 5e-6).abs() < 1e-15);
    }
}
