//! Round trips: canonical text (print → parse → equal; non-canonical spacing,
//! comments and dim order → canonical), lowered JSON (lower → JSON → read → raise),
//! detection of lowered programs that are not dim-structured, and the grammar file
//! against the parser.

mod support;

use collsynth::lowered::{self, LoweredStep};
use collsynth::placement::{self, Placement};
use collsynth::program::{parse_program, Collective, DimRef, Program, Step};
use collsynth::source::Source;
use collsynth::spec::Spec;
use proptest::prelude::*;
use support::sim::convention_groups;
use support::spec::SpecText;

fn specs() -> Vec<Spec> {
    vec![
        Spec::embedded_default(),
        SpecText::new()
            .levels(&[("rack", 2), ("node", 2), ("gpu", 4)])
            .axes(&[("data", 4), ("model", 2), ("pipe", 2)])
            .all_reduce(&["data", "pipe"])
            .spec(),
        SpecText::new()
            .levels(&[("vm", 3), ("gpu", 4)])
            .axes(&[("x_1", 6), ("y", 2)])
            .all_reduce(&["x_1"])
            .spec(),
    ]
}

/// A spec, one of its placements, and a program over that placement's dims, from raw
/// choices.
fn arb_case() -> impl Strategy<Value = (usize, usize, Program)> {
    (
        0..3usize,
        any::<usize>(),
        prop::collection::vec((0..5usize, any::<u32>(), any::<u32>(), any::<bool>()), 0..6),
    )
        .prop_map(|(si, pi, raw)| {
            let s = &specs()[si];
            let all = placement::enumerate(s);
            let pi = pi % all.len();
            let p = Placement::from_valid_matrix(all[pi].clone());
            let dims = support::dim_refs(&p);
            let mut steps = Vec::new();
            for (op, dmask, rmask, with_roots) in raw {
                if dims.is_empty() {
                    break;
                }
                let mut d: Vec<DimRef> = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| dmask >> i & 1 == 1)
                    .map(|(_, x)| *x)
                    .collect();
                if d.is_empty() {
                    d.push(dims[dmask as usize % dims.len()]);
                }
                let r: Vec<DimRef> = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, x)| with_roots && rmask >> i & 1 == 1 && !d.contains(x))
                    .map(|(_, x)| *x)
                    .collect();
                steps.push(Step::new(Collective::ALL[op], d).at_roots(r));
            }
            (si, pi, Program::new(steps))
        })
}

/// Writes a program non-canonically: dims in a scrambled order, random spacing,
/// comments and line breaks.
fn scrambled(s: &Spec, p: &Program, noise: &[u8]) -> String {
    let mut k = 0;
    let mut pick = |n: usize| {
        k += 1;
        noise
            .get(k % noise.len().max(1))
            .map_or(0, |&x| x as usize % n)
    };
    let space = |pick: &mut dyn FnMut(usize) -> usize| -> String {
        match pick(5) {
            0 => String::new(),
            1 => " ".into(),
            2 => "\n  ".into(),
            3 => "\t # a comment ; all_reduce(x:y)\n".into(),
            _ => "  ".into(),
        }
    };
    let dim = |d: &DimRef| format!("{}:{}", s.system.levels[d.level].name, s.axes[d.axis].name);
    let mut out = space(&mut pick);
    for (i, st) in p.steps.iter().enumerate() {
        if i > 0 {
            out += &format!("{};{}", space(&mut pick), space(&mut pick));
        }
        let mut dims = st.dims.clone();
        dims.reverse();
        if pick(2) == 1 {
            dims.rotate_left(1);
        }
        let list = |ds: &[DimRef], pick: &mut dyn FnMut(usize) -> usize| {
            ds.iter()
                .map(dim)
                .collect::<Vec<_>>()
                .join(if pick(2) == 0 { "," } else { " ,\n " })
        };
        out += &format!(
            "{}{}({}{})",
            st.op,
            space(&mut pick),
            list(&dims, &mut pick),
            space(&mut pick)
        );
        if !st.roots.is_empty() {
            let mut r = st.roots.clone();
            r.reverse();
            out += &format!(
                "{}@{}roots({})",
                space(&mut pick),
                space(&mut pick),
                list(&r, &mut pick)
            );
        }
    }
    out + &space(&mut pick)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_text_round_trips((si, _pi, prog) in arb_case(), noise in prop::collection::vec(any::<u8>(), 1..40)) {
        let s = &specs()[si];
        let text = prog.text(s);
        prop_assert_eq!(&parse_program(s, &text).unwrap(), &prog);
        let messy = scrambled(s, &prog, &noise);
        let back = parse_program(s, &messy).map_err(|e| TestCaseError::fail(format!("{e}\n{messy}")))?;
        prop_assert_eq!(&back, &prog, "{}", messy);
        prop_assert_eq!(back.text(s), text);
    }

    #[test]
    fn lowered_json_round_trips((si, pi, prog) in arb_case()) {
        let s = &specs()[si];
        let p = Placement::from_valid_matrix(placement::enumerate(s)[pi].clone());
        let l = lowered::lower(&p, &prog);
        let request = &s.requests[0];
        let doc = l.to_json(s, &p, request);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let read = lowered::parse_json(&Source::new("x.json", text)).unwrap();
        prop_assert_eq!(&read, &doc);
        prop_assert_eq!(read.matrix.as_ref(), Some(&p.matrix));
        prop_assert_eq!(read.resolve_request(s, "x.json").unwrap(), Some(request.clone()));
        prop_assert_eq!(read.lowered(s, "x.json").unwrap().check(p.devices(), "x.json"), Ok(()));
        prop_assert_eq!(lowered::raise(&p, &read.lowered(s, "x.json").unwrap()), Some(prog));
    }

    #[test]
    fn raise_finds_a_group_form_exactly_when_one_exists(
        si in 0..3usize, pi in any::<usize>(), ranks in any::<u64>(), cuts in any::<u64>(), base in any::<u32>()
    ) {
        let s = &specs()[si];
        let all = placement::enumerate(s);
        let p = Placement::from_valid_matrix(all[pi % all.len()].clone());
        let arities: Vec<u64> = s.system.levels.iter().map(|l| l.arity).collect();
        let dims: Vec<(usize, usize)> = p.dims.iter().map(|d| (d.level, d.axis)).collect();
        // Start from a dim-structured step or from nothing, then perturb.
        let mut groups = if base.is_multiple_of(2) && !dims.is_empty() {
            let d: Vec<_> = dims.iter().copied().enumerate().filter(|(i, _)| base >> (i + 1) & 1 == 1).map(|x| x.1).collect();
            convention_groups(&arities, &p.matrix, &d, &[])
        } else {
            let members: Vec<u64> = (0..p.devices()).filter(|r| ranks >> (r % 64) & 1 == 1).collect();
            let mut gs: Vec<Vec<u64>> = vec![];
            for (i, r) in members.into_iter().enumerate() {
                if i == 0 || cuts >> (i % 64) & 1 == 1 { gs.push(vec![r]) } else { gs.last_mut().unwrap().push(r) }
            }
            gs
        };
        if base % 4 == 2 && !groups.is_empty() {
            groups.pop();
        }
        groups.retain(|g| !g.is_empty());
        let step = LoweredStep { collective: Collective::Reduce, groups: groups.clone(), tree: false };
        // Brute force: every dims subset D and roots subset R of the rest.
        let mut form = None;
        let k = dims.len();
        for dm in 1u32..(1 << k) {
            for rm in 0u32..(1 << k) {
                if dm & rm != 0 {
                    continue;
                }
                let pick = |m: u32| dims.iter().copied().enumerate().filter(|(i, _)| m >> i & 1 == 1).map(|x| x.1).collect::<Vec<_>>();
                if convention_groups(&arities, &p.matrix, &pick(dm), &pick(rm)) == groups {
                    form = Some((pick(dm), pick(rm)));
                }
            }
        }
        let raised = lowered::raise_step(&p, &step);
        prop_assert_eq!(raised.is_some(), form.is_some(), "{:?}", groups);
        if let Some(st) = raised {
            prop_assert_eq!(lowered::lower_step(&p, &st), groups);
        }
    }
}

#[test]
fn non_dim_structured_lowered_programs_are_detected() {
    let s = Spec::embedded_default();
    let p = Placement::new(&s, vec![vec![2, 4], vec![2, 2]]).unwrap();
    let step = |groups: Vec<Vec<u64>>| LoweredStep {
        collective: Collective::AllReduce,
        groups,
        tree: false,
    };
    let l = lowered::Lowered {
        layout: vec![],
        steps: vec![
            step(convention_groups(&[4, 8], &p.matrix, &[(1, 0)], &[])),
            step(vec![vec![0, 3], vec![1, 2]]),
        ],
    };
    assert!(lowered::raise_step(&p, &l.steps[0]).is_some());
    assert_eq!(lowered::raise_step(&p, &l.steps[1]), None);
    assert_eq!(lowered::raise(&p, &l), None);
    // A single rank is no group form either.
    assert_eq!(lowered::raise_step(&p, &step(vec![vec![5]])), None);
}

// ------------------------------------------------------------------ grammar file

/// Terminals of the EBNF file, with comments (which nest) and special sequences
/// removed, in order of appearance.
fn grammar_terminals() -> Vec<String> {
    let text = std::fs::read_to_string(support::root().join("grammar/program.ebnf")).unwrap();
    let mut plain = String::new();
    let (mut depth, mut chars) = (0, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('(', Some('*')) => {
                chars.next();
                depth += 1;
            }
            ('*', Some(')')) if depth > 0 => {
                chars.next();
                depth -= 1;
            }
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced comments in grammar/program.ebnf");
    let plain: String = plain.split('?').step_by(2).collect::<Vec<_>>().join(" ");
    plain
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn grammar_keywords_are_the_collectives() {
    let terms = grammar_terminals();
    let words: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| t.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .collect();
    let mut want: Vec<&str> = vec!["roots", "pipeline", "layout", "tree"];
    want.extend(Collective::ALL.iter().map(|c| c.name()));
    let mut got = words.clone();
    got.sort();
    got.dedup();
    want.sort();
    assert_eq!(got, want);
    // And in Collective::ALL's order inside the `collective` rule.
    let collectives: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !["roots", "pipeline", "layout", "tree"].contains(w))
        .collect();
    let names: Vec<&str> = Collective::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(collectives, names);
}

#[test]
fn grammar_punctuation_is_what_the_parser_accepts() {
    let terms = grammar_terminals();
    let mut punct: Vec<char> = terms
        .iter()
        .filter(|t| t.chars().all(|c| c.is_ascii_punctuation() && c != '_'))
        .flat_map(|t| t.chars())
        .collect();
    punct.sort();
    punct.dedup();
    // Every punctuation mark of the grammar is used by a program the parser accepts...
    let s = Spec::embedded_default();
    let uses_all = "reduce(gpu:data, gpu:model) # comment\n ; all_reduce[tree](node:data) @ roots(gpu:data, gpu:model)";
    assert!(parse_program(&s, uses_all).is_ok());
    let mut used: Vec<char> = uses_all
        .chars()
        .filter(|c| c.is_ascii_punctuation() && *c != '_')
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(punct, used);
    // ... and every other punctuation mark, anywhere between tokens, is rejected.
    let canonical = "reduce(gpu:data) ; all_reduce(node:data) @ roots(gpu:data)";
    for c in (0u8..128)
        .map(char::from)
        .filter(|c| c.is_ascii_punctuation() && *c != '_')
    {
        if punct.contains(&c) {
            continue;
        }
        for (i, _) in canonical
            .char_indices()
            .filter(|(_, ch)| !ch.is_alphanumeric() && *ch != '_')
        {
            let text = format!("{}{c}{}", &canonical[..i], &canonical[i..]);
            assert!(
                parse_program(&s, &text).is_err(),
                "the parser accepts `{c}` in {text}"
            );
        }
    }
}
