//! Spec text for generated systems: the one spec builder of the tests and benches
//! (benches include this file alone with `#[path]`, so it needs nothing but the
//! library). Levels outer to inner, each with a name, an arity and a link
//! (100 GB/s and 1 us unless given); axes in order; all_reduce requests.
//!
//! ```ignore
//! let spec = SpecText::new()
//!     .levels(&[("node", 2), ("gpu", 4)])
//!     .axes(&[("data", 8)])
//!     .all_reduce(&["data"])
//!     .spec();
//! ```

#![allow(dead_code)]

use collsynth::source::Source;
use collsynth::spec::Spec;

/// The link of a level unless [`SpecText::link`] says otherwise.
pub const BANDWIDTH: &str = "100 GB/s";
/// The latency of a level unless [`SpecText::link`] says otherwise.
pub const LATENCY: &str = "1 us";
/// The bytes of a request unless [`SpecText::bytes`] says otherwise (1 MB).
pub const BYTES: u64 = 1_000_000;

#[derive(Debug, Clone)]
struct LevelText {
    name: String,
    arity: u64,
    bandwidth: String,
    latency: String,
}

#[derive(Debug, Clone)]
struct RequestText {
    axes: Vec<String>,
    bytes: u64,
}

/// A spec being built; [`SpecText::toml`] gives its text, [`SpecText::spec`] the
/// validated spec.
#[derive(Debug, Clone)]
pub struct SpecText {
    name: String,
    launch: Option<String>,
    levels: Vec<LevelText>,
    axes: Vec<(String, u64)>,
    requests: Vec<RequestText>,
}

impl Default for SpecText {
    fn default() -> Self {
        Self::new()
    }
}

impl SpecText {
    /// A system named "test" with no levels, axes or requests yet.
    pub fn new() -> Self {
        SpecText {
            name: "test".into(),
            launch: None,
            levels: Vec::new(),
            axes: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Levels and axes that fit `matrix` (rows = axes, columns = levels): each
    /// level's arity is its column's product, each axis's size its row's product.
    pub fn fitting(levels: &[&str], axes: &[&str], matrix: &[Vec<u64>]) -> Self {
        let mut t = Self::new();
        for (l, name) in levels.iter().enumerate() {
            t = t.level(name, matrix.iter().map(|r| r[l]).product());
        }
        for (a, name) in axes.iter().enumerate() {
            t = t.axis(name, matrix[a].iter().product());
        }
        t
    }

    /// The system's name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The system's launch overhead, like "5 us" (the library's default if not given).
    pub fn launch(mut self, launch: &str) -> Self {
        self.launch = Some(launch.into());
        self
    }

    /// One more level, inside the ones before, with the default link.
    pub fn level(mut self, name: &str, arity: u64) -> Self {
        self.levels.push(LevelText {
            name: name.into(),
            arity,
            bandwidth: BANDWIDTH.into(),
            latency: LATENCY.into(),
        });
        self
    }

    /// Levels `(name, arity)`, outer to inner, with the default link.
    pub fn levels(self, levels: &[(&str, u64)]) -> Self {
        levels.iter().fold(self, |t, &(n, a)| t.level(n, a))
    }

    /// The link of the last level added, like ("235 GB/s", "1 us").
    pub fn link(mut self, bandwidth: &str, latency: &str) -> Self {
        let l = self.levels.last_mut().expect("a level to give the link of");
        l.bandwidth = bandwidth.into();
        l.latency = latency.into();
        self
    }

    /// The links of the levels, outer to inner, like [("100 GB/s", "5 us"), ...].
    pub fn links(mut self, links: &[(&str, &str)]) -> Self {
        assert_eq!(links.len(), self.levels.len(), "one link per level");
        for (l, (bandwidth, latency)) in self.levels.iter_mut().zip(links) {
            l.bandwidth = bandwidth.to_string();
            l.latency = latency.to_string();
        }
        self
    }

    /// One more axis.
    pub fn axis(mut self, name: &str, size: u64) -> Self {
        self.axes.push((name.into(), size));
        self
    }

    /// Axes `(name, size)` in order.
    pub fn axes(self, axes: &[(&str, u64)]) -> Self {
        axes.iter().fold(self, |t, &(n, s)| t.axis(n, s))
    }

    /// One more all_reduce request over the named axes, of [`BYTES`].
    pub fn all_reduce(mut self, axes: &[&str]) -> Self {
        self.requests.push(RequestText {
            axes: axes.iter().map(|a| a.to_string()).collect(),
            bytes: BYTES,
        });
        self
    }

    /// The bytes of the last request added.
    pub fn bytes(mut self, bytes: u64) -> Self {
        self.requests
            .last_mut()
            .expect("a request to give the bytes of")
            .bytes = bytes;
        self
    }

    /// The spec's TOML text.
    pub fn toml(&self) -> String {
        let quoted = |v: &[String]| {
            v.iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut t = String::from("axes = [\n");
        for (n, s) in &self.axes {
            t.push_str(&format!("  {{ name = \"{n}\", size = {s} }},\n"));
        }
        t.push_str(&format!("]\n\n[system]\nname = \"{}\"\n", self.name));
        if let Some(launch) = &self.launch {
            t.push_str(&format!("launch = \"{launch}\"\n"));
        }
        t.push_str("levels = [\n");
        for l in &self.levels {
            t.push_str(&format!(
                "  {{ name = \"{}\", arity = {}, bandwidth = \"{}\", latency = \"{}\" }},\n",
                l.name, l.arity, l.bandwidth, l.latency
            ));
        }
        t.push_str("]\n");
        for r in &self.requests {
            t.push_str(&format!(
                "\n[[request]]\ncollective = \"all_reduce\"\naxes = [{}]\nbytes = {}\n",
                quoted(&r.axes),
                r.bytes
            ));
        }
        t
    }

    /// The validated spec (panics on invalid text: tests build valid ones).
    pub fn spec(&self) -> Spec {
        parse(&self.toml())
    }
}

/// A validated spec from text (panics on invalid text: tests build valid ones).
pub fn parse(text: &str) -> Spec {
    collsynth::spec::parse(&Source::new("test.toml", text), None).expect("valid test spec")
}
