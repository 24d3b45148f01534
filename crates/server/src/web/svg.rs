//! Bar charts as inline SVG, drawn on the server. Each bar is a link to the inventory filtered
//! to it; the same numbers are always printed in a table beside the chart, which is what
//! assistive technology reads best; the SVG is a labelled group of links, one per bar.

/// One bar.
pub(crate) struct Bar {
    pub label: String,
    /// What fits under the bar.
    pub short: String,
    pub value: i64,
    pub href: String,
    /// A CSS class for its colour (`bar-warn`, `bar-bad`...).
    pub class: &'static str,
}

/// Escapes text for XML content and attribute values.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEIGHT: i64 = 160;
const LABEL_SPACE: i64 = 36;
const TOP_SPACE: i64 = 18;

/// A vertical bar chart, `title` naming it.
pub(crate) fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let slot = match bars.len() {
        0..=6 => 100,
        7..=16 => 48,
        _ => 28,
    };
    let width = slot * bars.len().max(1) as i64;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let plot = HEIGHT - LABEL_SPACE - TOP_SPACE;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {HEIGHT}\" width=\"{width}\" height=\"{HEIGHT}\" \
         role=\"group\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        xml_escape(title),
        xml_escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let x = i as i64 * slot;
        let h = if b.value == 0 {
            1
        } else {
            (b.value * plot / max).max(2)
        };
        let y = TOP_SPACE + plot - h;
        let bar_w = slot - 8;
        svg.push_str(&format!(
            "<a href=\"{href}\" aria-label=\"{label}: {value}\"><rect class=\"{class}\" x=\"{bx}\" y=\"{y}\" \
             width=\"{bar_w}\" height=\"{h}\"><title>{label}: {value}</title></rect>\
             <text class=\"value\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{value}</text></a>\
             <text class=\"label\" x=\"{cx}\" y=\"{ly}\" text-anchor=\"middle\">{short}</text>",
            href = xml_escape(&b.href),
            label = xml_escape(&b.label),
            value = b.value,
            class = b.class,
            bx = x + 4,
            cx = x + slot / 2,
            ty = y - 4,
            ly = HEIGHT - LABEL_SPACE + 16,
            short = xml_escape(&b.short),
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_link_and_escape() {
        let svg = bar_chart(
            "A <chart>",
            &[Bar {
                label: "x".into(),
                short: "x".into(),
                value: 3,
                href: "/ui/inventory?a=1&b=2".into(),
                class: "bar",
            }],
        );
        assert!(svg.contains("href=\"/ui/inventory?a=1&amp;b=2\""));
        assert!(svg.contains("A &lt;chart&gt;"));
        assert!(svg.contains(">3</text>"));
    }
}
