//! The `cluster_fingerprint` program in another build: the binary `cluster_fingerprint`,
//! named as the test is so that its crate, and so its task's name
//! (`cluster_fingerprint::shape`), is the same, while the task takes a `u32` where the
//! test's takes a `u64`. Only the test `cluster_fingerprint` runs it.

#[path = "two_builds.rs"]
mod two_builds;

spindle::task! {
    /// The test's `shape`, taking a `u32`: a `u64` argument, read as this, would decode
    /// to another number or not at all.
    pub const SHAPE = pub fn shape(x: u32) -> (u64, u32) {
        (u64::from(x), two_builds::worker_pid())
    }
}

fn main() {
    spindle::process::init();
    two_builds::play_role(|cluster, n| {
        cluster.submit(SHAPE, u32::try_from(n).expect("a small number"))
    });
    eprintln!("this program is the test cluster_fingerprint's other build: it runs only under it");
    std::process::exit(2);
}
