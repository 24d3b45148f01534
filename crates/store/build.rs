//! `sqlx::migrate!` embeds the migrations at compile time; without this, cargo does not
//! notice a new migration file and the binary silently keeps the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
