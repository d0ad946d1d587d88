use collsynth::{placement::Placement, program::parse_program, spec::Spec, verify::*};
fn main() {
    let spec = Spec::embedded_default();
    let args: Vec<String> = std::env::args().collect();
    let m = collsynth::placement::parse_matrix(&args[1]).unwrap();
    let placement = Placement::from_valid_matrix(m);
    let program = parse_program(&spec, &args[2]).unwrap();
    if args.len() > 3 { println!("{}", smt2(&spec, &placement, &[0], &program)); }
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let v = prove(&spec, &placement, &[0], &program, &SmtOptions::default());
        println!("{:?} {:?}", t.elapsed(), v);
    }
}
