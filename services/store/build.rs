//! `sqlx::migrate!` embeds migrations/ when the crate compiles, and cargo does not see a new or
//! changed migration file on its own: this makes it rebuild the crate when one is (as sqlx's
//! `cargo sqlx migrate build-script` does).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
