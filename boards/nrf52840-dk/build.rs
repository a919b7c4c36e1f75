//! Installs memory.x and embeds the model (`MOTE_MODEL`, see `mote-embed`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=memory.x");
    mote_embed::memory_x(include_str!("memory.x"));
    mote_embed::embed_model();
}
