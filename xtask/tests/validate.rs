//! `docs/validation.md` shows what the simulator computes today.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn validation_page_is_current() {
    let page = std::fs::read_to_string(root().join("docs/validation.md")).expect("page");
    let fresh = xtask::validate::replace(&page, &xtask::validate::section(&root()).expect("runs"))
        .expect("markers");
    assert!(
        fresh == page,
        "docs/validation.md is stale: run `cargo xtask validate --write`"
    );
}

#[test]
fn replacing_keeps_the_text_around_the_markers() {
    use xtask::validate::{BEGIN, END, replace};
    let page = format!("head\n{BEGIN}\nold\n{END}\ntail\n");
    let got = replace(&page, &format!("{BEGIN}\nnew\n{END}\n")).expect("markers");
    assert_eq!(got, format!("head\n{BEGIN}\nnew\n{END}\ntail\n"));
    assert!(replace("no markers", "x").is_err());
}
