//! Embeds the model and its golden vectors (see `mote-embed` for the
//! environment variables) and picks the memory map of the QEMU machine.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").expect("TARGET");
    let an547 = std::env::var_os("CARGO_FEATURE_MPS3_AN547").is_some();
    let (flash, flash_len, ram, ram_len) = if target.starts_with("thumbv8m.main") {
        if an547 {
            // mps3-an547: ITCM and DTCM through their Secure aliases.
            (0x1000_0000u32, "512K", 0x3000_0000u32, "512K")
        } else {
            // mps2-an505: SSRAM1 and SSRAM2/3 through their Secure aliases.
            (0x1000_0000, "4M", 0x3800_0000, "4M")
        }
    } else {
        // mps2-an386 / mps2-an500.
        (0x0000_0000, "4M", 0x2000_0000, "4M")
    };
    mote_embed::memory_x(&format!(
        "MEMORY\n{{\n  FLASH : ORIGIN = {flash:#010x}, LENGTH = {flash_len}\n  RAM : ORIGIN = {ram:#010x}, LENGTH = {ram_len}\n}}\n"
    ));
    let model = mote_embed::embed_model();
    mote_embed::embed_goldens(&model);
    if std::env::var_os("CARGO_FEATURE_VERIFY").is_some() {
        embed_pubkey();
    }
}

/// Writes `pubkey.rs`: the 32-byte key of the `.pub` file `MOTE_PUBKEY`
/// (64 hex digits).
fn embed_pubkey() {
    println!("cargo:rerun-if-env-changed=MOTE_PUBKEY");
    let path = std::env::var("MOTE_PUBKEY").expect("the verify feature needs MOTE_PUBKEY");
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let hex = text.trim();
    assert!(hex.len() == 64, "{path}: expected 64 hex digits");
    let bytes: Vec<String> = (0..32)
        .map(|i| {
            let b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .unwrap_or_else(|_| panic!("{path}: not hexadecimal"));
            format!("{b:#04x}")
        })
        .collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(
        out.join("pubkey.rs"),
        format!(
            "/// The public key the model must be signed with.\nconst PUBKEY: [u8; 32] = [{}];\n",
            bytes.join(", ")
        ),
    )
    .expect("write pubkey.rs");
}
