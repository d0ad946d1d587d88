//! The fixed problems of `collsynth bench`: the example specs (`specs/*.toml`,
//! `specs/e2e/*.toml`, and the embedded default) and hierarchies generated in code,
//! deterministically, from 2 levels × 64 devices up to 5 levels × 32,768 devices, with
//! 1–4 axes and requests over 1–2 axes, and one of 8 levels × 2^20 devices with 6
//! axes (4 × 10^8 placements, searched by the branch and bound of docs/design.md,
//! §9.1).

use std::path::{Path, PathBuf};

use crate::source::{InputError, Source};
use crate::spec::{self, Spec};

/// Which problems to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// A handful of small problems (CI smoke test).
    Quick,
    /// Every example spec and every generated hierarchy.
    Full,
}

impl Suite {
    /// The name `--suite` takes.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Quick => "quick",
            Suite::Full => "full",
        }
    }
}

/// One problem of the suite.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Short stable name (`specs/default.toml`, `gen-5l-32768-4ax`).
    pub name: String,
    /// The spec.
    pub spec: Spec,
}

/// A generated hierarchy: level arities (outer first), axes, requests.
struct Generated {
    name: &'static str,
    arities: &'static [u64],
    axes: &'static [(&'static str, u64)],
    /// Requested axes and bytes per device.
    requests: &'static [(&'static [&'static str], &'static str)],
}

/// Level names, links and latencies, outermost first; a hierarchy of `n` levels takes
/// the innermost `n` (figures in the range of the example specs' systems: NVLink-class
/// inside a board, NIC-class between nodes, thinner uplinks above).
const LEVELS: [(&str, &str, &str); 8] = [
    ("region", "6.25 GB/s", "40 us"),
    ("zone", "12.5 GB/s", "20 us"),
    ("hall", "25 GB/s", "15 us"),
    ("pod", "25 GB/s", "10 us"),
    ("rack", "50 GB/s", "5 us"),
    ("node", "100 GB/s", "5 us"),
    ("board", "200 GB/s", "2 us"),
    ("gpu", "235 GB/s", "1 us"),
];

const QUICK_GENERATED: &[Generated] = &[
    Generated {
        name: "gen-2l-64-1ax",
        arities: &[8, 8],
        axes: &[("data", 64)],
        requests: &[(&["data"], "1 GB")],
    },
    Generated {
        name: "gen-2l-64-2ax",
        arities: &[8, 8],
        axes: &[("data", 16), ("model", 4)],
        requests: &[(&["data"], "1 GB"), (&["data", "model"], "256 MB")],
    },
];

const FULL_GENERATED: &[Generated] = &[
    Generated {
        name: "gen-3l-512-2ax",
        arities: &[8, 8, 8],
        axes: &[("data", 64), ("model", 8)],
        requests: &[(&["data"], "1 GB"), (&["model"], "64 MB")],
    },
    Generated {
        name: "gen-3l-4096-3ax",
        arities: &[16, 32, 8],
        axes: &[("data", 64), ("pipe", 8), ("model", 8)],
        requests: &[(&["data"], "1 GB"), (&["data", "model"], "256 MB")],
    },
    Generated {
        name: "gen-4l-4096-2ax",
        arities: &[4, 8, 16, 8],
        axes: &[("data", 256), ("model", 16)],
        requests: &[(&["data"], "1 GB"), (&["data", "model"], "256 MB")],
    },
    Generated {
        name: "gen-4l-8192-4ax",
        arities: &[4, 16, 16, 8],
        axes: &[("data", 32), ("pipe", 16), ("model", 8), ("expert", 2)],
        requests: &[(&["data"], "1 GB"), (&["data", "expert"], "256 MB")],
    },
    Generated {
        name: "gen-5l-32768-2ax",
        arities: &[2, 4, 8, 64, 8],
        axes: &[("data", 512), ("model", 64)],
        requests: &[(&["data"], "1 GB")],
    },
    // The largest problem of the suite: 4,601 placements.
    Generated {
        name: "gen-5l-32768-4ax",
        arities: &[2, 4, 8, 64, 8],
        axes: &[("data", 128), ("model", 8), ("pipe", 8), ("expert", 4)],
        requests: &[(&["data"], "1 GB"), (&["data", "expert"], "256 MB")],
    },
    // Beyond the placement cap: 406,857,860 placements, searched by the branch and
    // bound (docs/design.md, §9.1).
    Generated {
        name: "gen-8l-1048576-6ax",
        arities: &[8, 8, 8, 8, 4, 4, 4, 4],
        axes: &[
            ("data", 64),
            ("tensor", 8),
            ("pipe", 8),
            ("expert", 4),
            ("context", 4),
            ("seq", 16),
        ],
        requests: &[(&["data"], "64 MB"), (&["tensor"], "64 MB")],
    },
];

/// Example specs in the quick suite (paths under the specs folder).
const QUICK_SPECS: &[&str] = &["dgx-a100-x2-dp8-mp2.toml", "e2e/two-node-dp8.toml"];

impl Generated {
    fn toml(&self) -> String {
        let n = self.arities.len();
        let mut t = String::from("axes = [\n");
        for (name, size) in self.axes {
            t.push_str(&format!("  {{ name = \"{name}\", size = {size} }},\n"));
        }
        t.push_str(&format!(
            "]\n\n[system]\nname = \"{}\"\nlaunch = \"5 us\"\nlevels = [\n",
            self.name
        ));
        for ((name, bw, lat), arity) in LEVELS[LEVELS.len() - n..].iter().zip(self.arities) {
            t.push_str(&format!(
                "  {{ name = \"{name}\", arity = {arity}, bandwidth = \"{bw}\", latency = \"{lat}\" }},\n"
            ));
        }
        t.push_str("]\n");
        for (axes, bytes) in self.requests {
            let names: Vec<String> = axes.iter().map(|a| format!("\"{a}\"")).collect();
            t.push_str(&format!(
                "\n[[request]]\ncollective = \"all_reduce\"\naxes = [{}]\nbytes = \"{bytes}\"\n",
                names.join(", ")
            ));
        }
        t
    }

    fn problem(&self) -> Result<Problem, InputError> {
        let source = Source::new(format!("<bench {}>", self.name), self.toml());
        Ok(Problem {
            name: self.name.to_string(),
            spec: spec::parse(&source, None)?,
        })
    }
}

/// The TOML text of a generated problem, by name (for `docs/benchmarks.md` and
/// reproducing a figure with `collsynth synth`).
pub fn generated_toml(name: &str) -> Option<String> {
    QUICK_GENERATED
        .iter()
        .chain(FULL_GENERATED)
        .find(|g| g.name == name)
        .map(Generated::toml)
}

/// The names of the generated problems, smallest first.
pub fn generated_names() -> Vec<&'static str> {
    QUICK_GENERATED
        .iter()
        .chain(FULL_GENERATED)
        .map(|g| g.name)
        .collect()
}

/// The example specs folder: `dir` if given, else `./specs`, else the source tree's.
pub fn specs_dir(dir: Option<&Path>) -> Result<PathBuf, InputError> {
    if let Some(d) = dir {
        return if d.is_dir() {
            Ok(d.to_path_buf())
        } else {
            Err(InputError::file(
                d.display().to_string(),
                "the specs folder does not exist",
            ))
        };
    }
    let here = PathBuf::from("specs");
    if here.join("default.toml").is_file() {
        return Ok(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    if built.join("default.toml").is_file() {
        return Ok(built);
    }
    Err(InputError::file(
        "specs",
        "cannot find the example specs folder (neither ./specs nor the source tree's)",
    )
    .with_help("run from the collsynth checkout, or pass --specs-dir DIR".to_string()))
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| InputError::file(dir.display().to_string(), format!("cannot list it: {e}")))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

/// The problems of a suite, in a fixed order (small first).
pub fn problems(suite: Suite, specs: &Path) -> Result<Vec<Problem>, InputError> {
    let mut out = vec![Problem {
        name: "embedded default".into(),
        spec: Spec::embedded_default(),
    }];
    let files: Vec<PathBuf> = match suite {
        Suite::Quick => QUICK_SPECS.iter().map(|f| specs.join(f)).collect(),
        Suite::Full => {
            let mut f = toml_files(specs)?;
            f.extend(toml_files(&specs.join("e2e"))?);
            // default.toml is the embedded default, already in.
            f.retain(|p| p.file_name().is_none_or(|n| n != "default.toml"));
            f
        }
    };
    for path in files {
        let name = path
            .strip_prefix(specs)
            .map(|p| format!("specs/{}", p.display()))
            .unwrap_or_else(|_| path.display().to_string());
        out.push(Problem {
            name,
            spec: Spec::load(&path)?,
        });
    }
    let generated: Vec<&Generated> = match suite {
        Suite::Quick => QUICK_GENERATED.iter().collect(),
        Suite::Full => QUICK_GENERATED.iter().chain(FULL_GENERATED).collect(),
    };
    for g in generated {
        out.push(g.problem()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement;

    #[test]
    fn generated_problems_are_valid_and_span_the_range() {
        let all: Vec<Problem> = QUICK_GENERATED
            .iter()
            .chain(FULL_GENERATED)
            .map(|g| g.problem().expect("valid"))
            .collect();
        let devices: Vec<u64> = all.iter().map(|p| p.spec.devices()).collect();
        assert_eq!(devices.iter().min(), Some(&64));
        assert_eq!(devices.iter().max(), Some(&(1 << 20)));
        let levels: Vec<usize> = all.iter().map(|p| p.spec.system.levels.len()).collect();
        assert_eq!(
            (levels.iter().min(), levels.iter().max()),
            (Some(&2), Some(&8))
        );
        let axes: Vec<usize> = all.iter().map(|p| p.spec.axes.len()).collect();
        assert_eq!((axes.iter().min(), axes.iter().max()), (Some(&1), Some(&6)));
        for p in &all {
            for r in &p.spec.requests {
                assert!((1..=2).contains(&r.axes.len()), "{}", p.name);
            }
        }
        let issue = all
            .iter()
            .find(|p| p.name == "gen-5l-32768-4ax")
            .expect("the 4,601-placement problem");
        assert_eq!(placement::count(&issue.spec), 4_601);
    }

    #[test]
    fn generated_text_is_deterministic() {
        assert_eq!(
            generated_toml("gen-2l-64-1ax"),
            generated_toml("gen-2l-64-1ax")
        );
        assert!(generated_toml("gen-2l-64-1ax")
            .expect("known")
            .contains("{ name = \"board\", arity = 8, bandwidth = \"200 GB/s\""));
        assert_eq!(generated_toml("no-such"), None);
        for name in generated_names() {
            assert!(generated_toml(name).is_some(), "{name}");
        }
    }
}
