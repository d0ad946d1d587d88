//! `collsynth run-mpi`: emit programs' mpi4py script to a temporary file and run it
//! under `mpirun` with the numerical check on, so the answer can be tried on a
//! laptop before the cluster. Without `--program-file` the programs are the
//! synthesized ones `emit` would take (by default the best placement's best program
//! for every request), all in one script and one `mpirun`. Open MPI gets the flags a single machine needs
//! (`--oversubscribe`, `--allow-run-as-root`, the container-safe shared-memory
//! setting); the exact command is printed on stderr.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use clap::Args;

use super::emit::{render, resolve_units, ProgramsArgs, DEFAULTS_HELP};
use super::load_spec;
use super::outcome::{usage, Error, Outcome, Result};
use crate::emit::Target;

/// `collsynth run-mpi`.
#[derive(Debug, Args)]
#[command(after_help = DEFAULTS_HELP)]
pub struct RunMpiArgs {
    /// Which programs.
    #[command(flatten)]
    pub programs: ProgramsArgs,
    /// Number of processes [default: the spec's device count]; any other count is
    /// refused (one process per device).
    #[arg(long, value_name = "N")]
    pub np: Option<u64>,
    /// Also time each step on buffers of this size (e.g. 4MB), after the check, and
    /// beside each program MPI's own flat MPI_Allreduce on each reduction group.
    #[arg(long, value_name = "BYTES")]
    pub bytes: Option<String>,
    /// Timed runs for --bytes.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub iters: u32,
    /// The Python that has mpi4py and numpy (default: $COLLSYNTH_PYTHON, else
    /// /usr/bin/python3 when it exists, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// The launcher (default: mpirun).
    #[arg(long, value_name = "PATH", default_value = "mpirun")]
    pub mpirun: String,
}

/// The Python interpreter to run mpi4py scripts with.
pub fn default_python() -> String {
    if let Ok(p) = std::env::var("COLLSYNTH_PYTHON") {
        if !p.is_empty() {
            return p;
        }
    }
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

/// The `mpirun` command for `np` processes running `python script args...`: with Open
/// MPI, the flags and environment a single (possibly containerized, possibly root)
/// machine needs.
pub fn mpirun_command(
    mpirun: &str,
    np: u64,
    python: &str,
    script: &Path,
    args: &[String],
) -> Command {
    let open_mpi = Command::new(mpirun)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI"))
        .unwrap_or(false);
    let mut cmd = Command::new(mpirun);
    if open_mpi {
        cmd.args(["--allow-run-as-root", "--oversubscribe"]);
        cmd.env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        cmd.env("OMPI_MCA_rmaps_base_oversubscribe", "1");
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1");
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    cmd.arg("-np")
        .arg(np.to_string())
        .arg(python)
        .arg(script)
        .args(args);
    cmd
}

/// The command as one shell line, environment first.
pub fn shell_text(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
        .collect();
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

pub(super) fn run_mpi(a: RunMpiArgs) -> Result {
    let spec = load_spec(None, &a.programs.spec)?;
    let devices = spec.devices();
    if let Some(np) = a.np {
        if np != devices {
            return Err(usage(format!(
                "--np {np}: the spec has {devices} devices and its programs run one process per device; use --np {devices} (or leave it out)"
            )));
        }
    }
    let (spec, units) = resolve_units(spec, &a.programs)?;
    let text = render(Target::Mpi4py, &spec, &units)?;
    // Removed when it goes out of scope, whatever happens to the run.
    let mut script = tempfile::Builder::new()
        .prefix("collsynth-run-mpi-")
        .suffix(".py")
        .tempfile()
        .map_err(|e| usage(format!("cannot create a temporary script: {e}")))?;
    script
        .write_all(text.as_bytes())
        .and_then(|()| script.flush())
        .map_err(|e| usage(format!("cannot write {}: {e}", script.path().display())))?;
    let mut args = vec!["--check".to_string()];
    if let Some(b) = &a.bytes {
        args.extend([
            "--bytes".into(),
            b.clone(),
            "--iters".into(),
            a.iters.to_string(),
        ]);
    }
    let python = a.python.clone().unwrap_or_else(default_python);
    let mut cmd = mpirun_command(&a.mpirun, devices, &python, script.path(), &args);
    eprintln!("running: {}", shell_text(&cmd));
    let status = cmd.status().map_err(|e| {
        Error::Input(format!(
            "cannot run `{}`: {e}; install Open MPI (Debian: apt-get install openmpi-bin python3-mpi4py python3-numpy) or give --mpirun PATH",
            a.mpirun
        ))
    })?;
    // The script exits 0 when every rank holds the right sums, 2 on bad arguments.
    Ok(match status.code() {
        Some(0) => Outcome::Success,
        Some(2) => Outcome::BadInput,
        _ => Outcome::Refuted,
    })
}
