//! QuickJS keeps part of every JS call frame on the C stack in linear
//! memory; 1 MiB (the default) ends recursion a few thousand calls deep.

fn main() {
    println!("cargo:rustc-link-arg=-zstack-size=4194304");
}
