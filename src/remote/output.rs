//! How results are printed: a readable table (the default), the server's JSON, or CSV.

use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// Rows to print, with the JSON they came from.
pub struct Listing {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub json: Value,
}

impl Listing {
    pub fn print(&self, format: Format) {
        print!("{}", self.render(format));
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            ),
            Format::Csv => {
                let mut out = String::new();
                certkeeper_domain::csv::push_record(&mut out, &self.headers);
                for r in &self.rows {
                    certkeeper_domain::csv::push_record(&mut out, r);
                }
                out
            }
            Format::Table => table(&self.headers, &self.rows),
        }
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// A JSON field as table text: strings bare, null empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let l = Listing {
            headers: vec!["ID", "NAME"],
            rows: vec![
                vec!["1".into(), "a.example".into()],
                vec!["100".into(), "b".into()],
            ],
            json: Value::Null,
        };
        assert_eq!(
            l.render(Format::Table),
            "ID   NAME\n1    a.example\n100  b\n"
        );
        assert_eq!(l.render(Format::Csv), "ID,NAME\r\n1,a.example\r\n100,b\r\n");
    }
}
