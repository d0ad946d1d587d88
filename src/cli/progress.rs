//! Progress bars on stderr (indicatif), drawn only when stderr is a terminal: piped
//! or redirected runs, tests and CI print nothing extra.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::Progress;

/// A bar labelled `what` (e.g. "placements"), or a hidden one when stderr is not a
/// terminal; the [`Progress`] moves it.
pub fn bar(what: &str) -> (ProgressBar, Progress) {
    let pb = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({elapsed}, eta {eta})")
                .expect("a valid template"),
        );
        pb.set_message(what.to_string());
        pb
    } else {
        ProgressBar::hidden()
    };
    let p = pb.clone();
    let progress = Progress::new(move |done, total| {
        p.set_length(total);
        p.set_position(done);
    });
    (pb, progress)
}
