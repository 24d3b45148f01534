//! Compiles a collection query (the domain's typed AST) to a SQL condition over
//! `certificates c`. Every value is bound as a parameter: user text never becomes SQL text.
//!
//! Text comparisons are case-insensitive, as in Keyfactor (SQL Server's default collation):
//! values are lower-cased here and compared with lower-cased columns, except `IssuedCN`, which
//! has an index made for it (SQLite: a `NOCASE` column, so `=` and `LIKE 'x%'` use the index;
//! PostgreSQL: an index on `lower(issued_cn) text_pattern_ops`). `-ne` and `-notcontains` also
//! match certificates where the field is absent (no CN, not yet issued).

use certkeeper_domain::query::{DateValue, Field, Op, Query, Value};
use time::OffsetDateTime;

use crate::Backend;
use crate::time_ms::to_ms;

const DAY_MS: i64 = 86_400_000;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A condition and its parameters, numbered from the `first` given to [`compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Binds a condition's parameters onto a query, in order.
pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(n) => q.bind(*n),
        };
    }
    q
}

struct Compiler {
    backend: Backend,
    now: OffsetDateTime,
    next: usize,
    binds: Vec<Bind>,
}

/// Compiles `query` evaluated at `now` (for `%TODAY%` and `CertState`), numbering placeholders
/// from `$first`.
pub(crate) fn compile(
    query: &Query,
    backend: Backend,
    now: OffsetDateTime,
    first: usize,
) -> Condition {
    let mut c = Compiler {
        backend,
        now,
        next: first,
        binds: Vec::new(),
    };
    let sql = c.query(query);
    Condition {
        sql,
        binds: c.binds,
    }
}

/// The notBefore range `[from, until)` (epoch ms) that the query's top-level `AND`ed
/// `IssuedDate` clauses imply, evaluated at `now`; `None` for an open end. Reports intersect it
/// with their own window, so the database walks the notBefore index over the narrower range:
/// SQLite uses one lower and one upper bound per index and would otherwise keep the window's.
pub(crate) fn not_before_bounds(query: &Query, now: OffsetDateTime) -> (Option<i64>, Option<i64>) {
    let (mut from, mut until): (Option<i64>, Option<i64>) = (None, None);
    let mut stack = vec![query];
    while let Some(q) = stack.pop() {
        match q {
            Query::And(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Query::Or(..) => {}
            Query::Clause {
                field: Field::IssuedDate,
                op,
                value: Value::Date(d),
            } => {
                let (start, end) = day_or_instant(*d, now);
                let (lo, hi) = match op {
                    Op::Eq => (Some(start), Some(end)),
                    Op::Lt => (None, Some(start)),
                    Op::Le => (None, Some(end)),
                    Op::Gt => (Some(end), None),
                    Op::Ge => (Some(start), None),
                    _ => (None, None),
                };
                from = from.max(lo);
                until = match (until, hi) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Query::Clause { .. } => {}
        }
    }
    (from, until)
}

/// A date value as the range `[start, end)` it stands for: a whole UTC day for a calendar day
/// or `%TODAY±n%`, one millisecond for an instant.
fn day_or_instant(d: DateValue, now: OffsetDateTime) -> (i64, i64) {
    let start = to_ms(d.resolve(now));
    let end = match d {
        DateValue::Instant(_) => start + 1,
        DateValue::Day(_) | DateValue::Today(_) => start + DAY_MS,
    };
    (start, end)
}

/// Escapes LIKE's wildcards (`%`, `_`) and the escape character itself.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

impl Compiler {
    fn param(&mut self, b: Bind) -> String {
        let p = format!("${}", self.next);
        self.next += 1;
        self.binds.push(b);
        p
    }

    fn text(&mut self, s: String) -> String {
        self.param(Bind::Text(s))
    }

    fn int(&mut self, n: i64) -> String {
        self.param(Bind::Int(n))
    }

    fn query(&mut self, q: &Query) -> String {
        match q {
            Query::And(a, b) => format!("({} AND {})", self.query(a), self.query(b)),
            Query::Or(a, b) => format!("({} OR {})", self.query(a), self.query(b)),
            Query::Clause { field, op, value } => self.clause(*field, *op, value),
        }
    }

    fn clause(&mut self, field: Field, op: Op, value: &Value) -> String {
        match field {
            Field::IssuedCN => {
                let col = match self.backend {
                    Backend::Sqlite => "c.issued_cn",
                    Backend::Postgres => "lower(c.issued_cn)",
                };
                self.text_clause(col, op, value, str::to_lowercase)
            }
            Field::IssuedDN => self.text_clause("lower(c.subject)", op, value, str::to_lowercase),
            Field::IssuerDN => self.text_clause("lower(c.issuer)", op, value, str::to_lowercase),
            Field::SerialNumber => self.text_clause("c.serial_number", op, value, hex_value),
            Field::Thumbprint => self.text_clause("c.thumbprint", op, value, hex_value),
            Field::DNSSubjectAltName => self.san_clause(op, value),
            Field::IssuedDate => self.date_clause("c.not_before_ms", op, value),
            Field::ExpirationDate => self.date_clause("c.not_after_ms", op, value),
            Field::KeySize => self.int_clause("c.key_size", op, value),
            Field::ContainerId => self.int_clause("c.container_id", op, value),
            Field::KeyType => self.text_clause("c.key_type", op, value, str::to_string),
            Field::CertificateType => {
                self.text_clause("c.certificate_type", op, value, str::to_string)
            }
            Field::CertState => self.state_clause(op, value),
            Field::ProjectId => {
                if *value == Value::Null {
                    return bool_sql(op == Op::Ne);
                }
                let (inner_op, negate) = match op {
                    Op::Ne => (Op::Eq, true),
                    Op::NotContains => (Op::Contains, true),
                    other => (other, false),
                };
                let inner = self.text_clause("lower(p.id)", inner_op, value, str::to_lowercase);
                // Projects are few: the subquery is small, and container_id is indexed.
                let set = format!(
                    "c.container_id IN (SELECT p.container_id FROM projects p WHERE {inner})"
                );
                if negate { format!("NOT {set}") } else { set }
            }
        }
    }

    /// `col <op> value` for text, with `norm` applied to the value.
    fn text_clause(
        &mut self,
        col: &str,
        op: Op,
        value: &Value,
        norm: fn(&str) -> String,
    ) -> String {
        let v = match value {
            Value::Null => {
                return if op == Op::Ne {
                    format!("{col} IS NOT NULL")
                } else {
                    format!("{col} IS NULL")
                };
            }
            Value::Text(s) => norm(s),
            Value::Integer(n) => n.to_string(),
            Value::Date(_) => return bool_sql(false),
        };
        match op {
            Op::Eq => format!("{col} = {}", self.text(v)),
            Op::Ne => format!("({col} IS NULL OR {col} <> {})", self.text(v)),
            Op::Contains => format!(
                "{col} LIKE {} ESCAPE '\\'",
                self.text(format!("%{}%", like_escape(&v)))
            ),
            Op::NotContains => format!(
                "({col} IS NULL OR {col} NOT LIKE {} ESCAPE '\\')",
                self.text(format!("%{}%", like_escape(&v)))
            ),
            Op::StartsWith => format!(
                "{col} LIKE {} ESCAPE '\\'",
                self.text(format!("{}%", like_escape(&v)))
            ),
            Op::EndsWith => format!(
                "{col} LIKE {} ESCAPE '\\'",
                self.text(format!("%{}", like_escape(&v)))
            ),
            // The parser refuses ordering on text.
            Op::Lt | Op::Le | Op::Gt | Op::Ge => bool_sql(false),
        }
    }

    /// DNS SANs: the primary name and the others, matched one name at a time by framing the
    /// list with commas (`,a.example,b.example,`).
    fn san_clause(&mut self, op: Op, value: &Value) -> String {
        const LIST: &str = "lower(',' || c.domain_name || ',' || c.additional_names || ',')";
        let v = match value {
            Value::Null => {
                let none = "(c.domain_name = '' AND c.additional_names = '')";
                return if op == Op::Ne {
                    format!("NOT {none}")
                } else {
                    none.to_string()
                };
            }
            Value::Text(s) => like_escape(&s.to_lowercase()),
            _ => return bool_sql(false),
        };
        let (pattern, negate) = match op {
            Op::Eq => (format!("%,{v},%"), false),
            Op::Ne => (format!("%,{v},%"), true),
            Op::Contains => (format!("%{v}%"), false),
            Op::NotContains => (format!("%{v}%"), true),
            Op::StartsWith => (format!("%,{v}%"), false),
            Op::EndsWith => (format!("%{v},%"), false),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => return bool_sql(false),
        };
        let p = self.text(pattern);
        if negate {
            format!("{LIST} NOT LIKE {p} ESCAPE '\\'")
        } else {
            format!("{LIST} LIKE {p} ESCAPE '\\'")
        }
    }

    fn int_clause(&mut self, col: &str, op: Op, value: &Value) -> String {
        let n = match value {
            Value::Null => {
                return if op == Op::Ne {
                    format!("{col} IS NOT NULL")
                } else {
                    format!("{col} IS NULL")
                };
            }
            Value::Integer(n) => *n,
            _ => return bool_sql(false),
        };
        let p = self.int(n);
        match op {
            Op::Eq => format!("{col} = {p}"),
            Op::Ne => format!("({col} IS NULL OR {col} <> {p})"),
            Op::Lt => format!("{col} < {p}"),
            Op::Le => format!("{col} <= {p}"),
            Op::Gt => format!("{col} > {p}"),
            Op::Ge => format!("{col} >= {p}"),
            _ => bool_sql(false),
        }
    }

    /// Dates: a calendar day (or `%TODAY±n%`) stands for the whole UTC day `[start, end)`; an
    /// RFC 3339 instant for itself.
    fn date_clause(&mut self, col: &str, op: Op, value: &Value) -> String {
        let d = match value {
            Value::Null => {
                return if op == Op::Ne {
                    format!("{col} IS NOT NULL")
                } else {
                    format!("{col} IS NULL")
                };
            }
            Value::Date(d) => *d,
            _ => return bool_sql(false),
        };
        let (start, end) = day_or_instant(d, self.now);
        match op {
            Op::Eq => {
                let (s, e) = (self.int(start), self.int(end));
                format!("({col} >= {s} AND {col} < {e})")
            }
            Op::Ne => {
                let (s, e) = (self.int(start), self.int(end));
                format!("({col} IS NULL OR {col} < {s} OR {col} >= {e})")
            }
            Op::Lt => format!("{col} < {}", self.int(start)),
            Op::Le => format!("{col} < {}", self.int(end)),
            Op::Gt => format!("{col} >= {}", self.int(end)),
            Op::Ge => format!("{col} >= {}", self.int(start)),
            _ => bool_sql(false),
        }
    }

    /// `CertState`: Pending and Revoked come from the certificate's order; Active and Expired
    /// are issued (or imported), not revoked certificates before / after their notAfter.
    fn state_clause(&mut self, op: Op, value: &Value) -> String {
        let state = match value {
            Value::Null => return bool_sql(op == Op::Ne),
            Value::Text(s) => s.as_str(),
            _ => return bool_sql(false),
        };
        let order_is = |status: &str| {
            format!(
                "EXISTS (SELECT 1 FROM orders o WHERE o.certificate_id = c.id AND o.status = '{status}')"
            )
        };
        let positive = match state {
            "Pending" => order_is("pending"),
            "Revoked" => order_is("revoked"),
            "Active" | "Expired" => {
                let now = self.int(to_ms(self.now));
                let cmp = if state == "Active" { ">=" } else { "<" };
                format!(
                    "(c.not_after_ms {cmp} {now} AND NOT {})",
                    order_is("revoked")
                )
            }
            _ => bool_sql(false),
        };
        if op == Op::Ne {
            format!("NOT {positive}")
        } else {
            positive
        }
    }
}

/// Serial numbers and thumbprints are stored as upper-case hex without separators.
fn hex_value(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_uppercase()
}

fn bool_sql(b: bool) -> String {
    if b { "1 = 1" } else { "1 = 0" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn c(q: &str, backend: Backend) -> Condition {
        compile(
            &Query::parse(q).unwrap(),
            backend,
            datetime!(2025-01-10 12:00 UTC),
            3,
        )
    }

    #[test]
    fn values_are_parameters() {
        let cond = c(
            r#"CN -eq "x' OR 1=1 --" AND SAN -contains "a_b%""#,
            Backend::Sqlite,
        );
        assert_eq!(
            cond.sql,
            "(c.issued_cn = $3 AND lower(',' || c.domain_name || ',' || c.additional_names || ',') LIKE $4 ESCAPE '\\')"
        );
        assert_eq!(
            cond.binds,
            vec![
                Bind::Text("x' or 1=1 --".into()),
                Bind::Text("%a\\_b\\%%".into())
            ]
        );
    }

    #[test]
    fn postgres_lowercases_the_cn_column() {
        let cond = c(r#"IssuedCN -startswith "Web""#, Backend::Postgres);
        assert_eq!(cond.sql, "lower(c.issued_cn) LIKE $3 ESCAPE '\\'");
        assert_eq!(cond.binds, vec![Bind::Text("web%".into())]);
    }

    #[test]
    fn dates_are_days_or_instants() {
        let day = to_ms(datetime!(2025-01-17 00:00 UTC));
        let cond = c(r#"ExpirationDate -le "%TODAY+7%""#, Backend::Sqlite);
        assert_eq!(cond.sql, "c.not_after_ms < $3");
        assert_eq!(cond.binds, vec![Bind::Int(day + DAY_MS)]);
        let cond = c(r#"IssuedDate -eq "2025-01-17""#, Backend::Sqlite);
        assert_eq!(cond.binds, vec![Bind::Int(day), Bind::Int(day + DAY_MS)]);
        let cond = c(r#"IssuedDate -gt "2025-01-17T00:00:00Z""#, Backend::Sqlite);
        assert_eq!(cond.binds, vec![Bind::Int(day + 1)]);
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let cond = c(
            r#"(KeySize -ge "2048" OR KeyType -eq "ecdsa") AND CertState -ne "Revoked" AND ContainerId -eq "4""#,
            Backend::Postgres,
        );
        assert!(cond.sql.contains("c.key_size >= $3"), "{}", cond.sql);
        assert!(cond.sql.contains("c.key_type = $4"), "{}", cond.sql);
        assert!(cond.sql.contains("c.container_id = $5"), "{}", cond.sql);
        assert_eq!(
            cond.binds,
            vec![Bind::Int(2048), Bind::Text("ECDSA".into()), Bind::Int(4)]
        );
    }

    #[test]
    fn not_before_bounds_come_from_top_level_and_only() {
        let now = datetime!(2025-01-10 12:00 UTC);
        let b = |q: &str| not_before_bounds(&Query::parse(q).unwrap(), now);
        let today = to_ms(datetime!(2025-01-10 00:00 UTC));
        assert_eq!(
            b(r#"IssuedDate -ge "%TODAY-30%" AND KeyType -eq "RSA""#),
            (Some(today - 30 * DAY_MS), None)
        );
        assert_eq!(
            b(r#"(IssuedDate -gt "%TODAY-3%" AND IssuedDate -le "%TODAY%") AND CN -eq "a""#),
            (Some(today - 2 * DAY_MS), Some(today + DAY_MS))
        );
        assert_eq!(
            b(r#"IssuedDate -lt "%TODAY%" AND IssuedDate -lt "%TODAY-1%""#),
            (None, Some(today - DAY_MS))
        );
        // Under OR, or with an operator that is no range, nothing can be assumed.
        assert_eq!(b(r#"IssuedDate -ge "%TODAY%" OR CN -eq "a""#), (None, None));
        assert_eq!(b(r#"IssuedDate -ne "%TODAY%""#), (None, None));
        assert_eq!(b(r#"IssuedDate -eq NULL"#), (None, None));
    }
}
