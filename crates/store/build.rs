//! `sqlx::migrate!` embeds the files of `migrations/` at compile time, but cargo
//! only notices edited sources: without this, a new migration file would not
//! trigger a rebuild (sqlx documents this build script for that reason).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
