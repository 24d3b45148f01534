//! CSV as certkeeper writes it (exports from the dashboard, `--output csv` in the CLI):
//! RFC 4180 quoting, and cells that a spreadsheet would run as a formula defused.

/// Appends one field. Quoted when it holds a comma, quote or line break; a leading `=`, `+`,
/// `-` or `@` gets a `'` first, so opening the file in a spreadsheet runs nothing
/// (OWASP's CSV-injection advice).
pub fn push_field(out: &mut String, v: &str) {
    let guarded = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

/// One record, CRLF-terminated.
pub fn push_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, f.as_ref());
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defuses_formulas_and_quotes() {
        let mut s = String::new();
        push_record(&mut s, &["=cmd()", "a,\"b\"", "plain"]);
        assert_eq!(s, "'=cmd(),\"a,\"\"b\"\"\",plain\r\n");
    }
}
