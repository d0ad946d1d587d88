//! `simulate` output: a table per request (predicted vs simulated, the ranking's
//! agreement) and the `simulate --json` document (`docs/design.md`, "JSON outputs").

use serde::Serialize;

use super::{smpi_flags, Agreement, ProgramSim};
use crate::placement::{MatrixText, Placement};
use crate::spec::Spec;
use crate::units::{format_bytes, format_seconds};

/// One request's comparison.
#[derive(Debug, Clone)]
pub struct RequestReport {
    /// Index into the spec's requests.
    pub request: usize,
    /// The simulated size (bytes per device).
    pub bytes: u64,
    /// Every program, in synthesis' order (the flat ring last if added).
    pub programs: Vec<ProgramSim>,
    /// The rankings' agreement.
    pub agreement: Agreement,
}

/// Agreement over every request.
pub fn total(requests: &[RequestReport]) -> Agreement {
    let (mut c, mut d, mut t, mut top) = (0, 0, 0, true);
    for r in requests {
        c += r.agreement.concordant;
        d += r.agreement.discordant;
        t += r.agreement.tied;
        top &= r.agreement.top1;
    }
    let pairs = c + d + t;
    Agreement {
        concordant: c,
        discordant: d,
        tied: t,
        kendall_tau: (pairs > 0).then(|| (c as f64 - d as f64) / pairs as f64),
        top1: top,
    }
}

fn tau_text(t: Option<f64>) -> String {
    t.map_or("n/a (one program)".into(), |t| format!("{t:.2}"))
}

/// The tables.
pub fn simulate_text(
    spec: &Spec,
    index: usize,
    placement: &Placement,
    requests: &[RequestReport],
) -> String {
    let mut s = format!("# {}\n", spec.header());
    s.push_str(&format!(
        "# placement {index} (--matrix \"{}\": {}); SimGrid SMPI, flow model without factors, launch added per step and chunk\n",
        MatrixText(&placement.matrix),
        placement.dim_names(spec).join(", ")
    ));
    for r in requests {
        let req = &spec.requests[r.request];
        s.push_str(&format!(
            "\nrequest {}: {} at {}\n",
            r.request,
            spec.describe_request(req),
            format_bytes(r.bytes as f64)
        ));
        s.push_str(&format!(
            "  {:>5}  {:>11}  {:>11}  {:>8}  program\n",
            "rank", "predicted", "simulated", "sim/pred"
        ));
        for p in &r.programs {
            s.push_str(&format!(
                "  {:>5}  {:>11}  {:>11}  {:>8.3}  {}\n",
                p.synth_rank.map_or("flat".to_string(), |k| k.to_string()),
                format_seconds(p.predicted_s),
                format_seconds(p.simulated_s),
                p.simulated_s / p.predicted_s,
                p.text
            ));
        }
        let a = &r.agreement;
        s.push_str(&format!(
            "  ranking: Kendall tau {}; pairs: {} agree, {} disagree, {} tied; model's best is {}SimGrid's best\n",
            tau_text(a.kendall_tau),
            a.concordant,
            a.discordant,
            a.tied,
            if a.top1 { "" } else { "not " }
        ));
    }
    let t = total(requests);
    s.push_str(&format!(
        "\nall requests: Kendall tau {}; pairs: {} agree, {} disagree, {} tied; top-1 agrees on {} of {} requests\n",
        tau_text(t.kendall_tau),
        t.concordant,
        t.discordant,
        t.tied,
        requests.iter().filter(|r| r.agreement.top1).count(),
        requests.len()
    ));
    s
}

#[derive(Serialize)]
struct SimulateJson<'a> {
    schema_version: u32,
    spec: &'a str,
    placement: usize,
    matrix: &'a [Vec<u64>],
    smpi_flags: Vec<&'static str>,
    requests: Vec<RequestJson<'a>>,
    summary: AgreementJson,
}

#[derive(Serialize)]
struct RequestJson<'a> {
    request: usize,
    bytes: u64,
    programs: Vec<ProgramJson<'a>>,
    agreement: AgreementJson,
}

#[derive(Serialize)]
struct ProgramJson<'a> {
    text: &'a str,
    synth_rank: Option<usize>,
    chunks: u64,
    predicted_s: f64,
    simulated_s: f64,
    ratio: f64,
}

#[derive(Serialize)]
struct AgreementJson {
    kendall_tau: Option<f64>,
    concordant: usize,
    discordant: usize,
    tied: usize,
    top1: bool,
}

fn agreement_json(a: &Agreement) -> AgreementJson {
    AgreementJson {
        kendall_tau: a.kendall_tau,
        concordant: a.concordant,
        discordant: a.discordant,
        tied: a.tied,
        top1: a.top1,
    }
}

/// The JSON document.
pub fn simulate_json(
    spec: &Spec,
    index: usize,
    placement: &Placement,
    requests: &[RequestReport],
) -> String {
    let doc = SimulateJson {
        schema_version: 1,
        spec: &spec.source,
        placement: index,
        matrix: &placement.matrix,
        smpi_flags: smpi_flags(),
        requests: requests
            .iter()
            .map(|r| RequestJson {
                request: r.request,
                bytes: r.bytes,
                programs: r
                    .programs
                    .iter()
                    .map(|p| ProgramJson {
                        text: &p.text,
                        synth_rank: p.synth_rank,
                        chunks: p.chunks,
                        predicted_s: p.predicted_s,
                        simulated_s: p.simulated_s,
                        ratio: p.simulated_s / p.predicted_s,
                    })
                    .collect(),
                agreement: agreement_json(&r.agreement),
            })
            .collect(),
        summary: agreement_json(&total(requests)),
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("the document serializes");
    s.push('\n');
    s
}
