//! Pictures drawn on the server as SVG (no JavaScript, no chart library): the order state
//! machine with the current state and the path an order took, and a period's revenue and
//! orders per day. Colours are presentation attributes, so the strict content security policy
//! (no inline styles) holds.

use ordo_domain::order::{OrderStatus, TRANSITIONS};
use std::fmt::Write as _;

const W: f64 = 118.0;
const H: f64 = 36.0;

/// Where each state sits: the happy path on top, the two ends below.
fn position(s: OrderStatus) -> (f64, f64) {
    match s {
        OrderStatus::Pending => (70.0, 75.0),
        OrderStatus::Processing => (220.0, 75.0),
        OrderStatus::Paid => (370.0, 75.0),
        OrderStatus::Fulfilled => (520.0, 75.0),
        OrderStatus::Delivered => (670.0, 75.0),
        OrderStatus::Canceled => (145.0, 175.0),
        OrderStatus::Refunded => (595.0, 175.0),
    }
}

/// The point where the line from `from` to `to` (centres) leaves `to`'s box.
fn border(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let tx = if dx == 0.0 { f64::INFINITY } else { (W / 2.0) / dx.abs() };
    let ty = if dy == 0.0 { f64::INFINITY } else { (H / 2.0) / dy.abs() };
    let t = tx.min(ty);
    (to.0 - dx * t, to.1 - dy * t)
}

/// The state machine: every transition as an arrow; states the order visited and the arrows
/// it took drawn strong, its current state filled. `taken` is the history's (from, to) pairs.
pub fn state_diagram(current: &str, taken: &[(String, String)]) -> String {
    let visited =
        |s: OrderStatus| s.as_str() == current || taken.iter().any(|(a, b)| a == s.as_str() || b == s.as_str());
    let path: Vec<String> = std::iter::once("placed".to_owned())
        .chain(taken.iter().map(|(_, b)| b.clone()))
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="diagram" viewBox="0 0 740 205" role="img" aria-labelledby="sm-title" xmlns="http://www.w3.org/2000/svg">
<title id="sm-title">Order state machine. Current state: {current}. Path taken: {}.</title>
<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9aa3ad"/></marker>
<marker id="arrow-taken" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f6feb"/></marker>
</defs>
"##,
        path.join(" → ")
    );
    for (from, to) in TRANSITIONS {
        let (a, b) = (position(*from), position(*to));
        // The two directions between pending and processing run side by side.
        let back = TRANSITIONS.contains(&(*to, *from));
        let shift = if back {
            if from.rank() < to.rank() { -6.0 } else { 6.0 }
        } else {
            0.0
        };
        let (a, b) = ((a.0, a.1 + shift), (b.0, b.1 + shift));
        let was_taken = taken.iter().any(|(x, y)| x == from.as_str() && y == to.as_str());
        let (color, width, marker, class) = if was_taken {
            ("#1f6feb", 3, "arrow-taken", "edge taken")
        } else {
            ("#9aa3ad", 1, "arrow", "edge")
        };
        // An arrow that would run through a state between its ends arcs over the row.
        let skips = a.1 == b.1 && (a.0 - b.0).abs() > 200.0;
        let d = if skips {
            let top = a.1 - H / 2.0;
            format!(
                "M{:.1},{top:.1} Q{:.1},{:.1} {:.1},{top:.1}",
                a.0,
                (a.0 + b.0) / 2.0,
                top - 55.0,
                b.0
            )
        } else {
            let start = border(b, a);
            let end = border(a, b);
            format!("M{:.1},{:.1} L{:.1},{:.1}", start.0, start.1, end.0, end.1)
        };
        let _ = writeln!(
            svg,
            r#"<path class="{class}" data-from="{from}" data-to="{to}" d="{d}" fill="none" stroke="{color}" stroke-width="{width}" marker-end="url(#{marker})"/>"#
        );
    }
    for s in OrderStatus::ALL {
        let (x, y) = position(*s);
        let (fill, stroke, text, class) = if s.as_str() == current {
            ("#1f6feb", "#1f6feb", "#ffffff", "state current")
        } else if visited(*s) {
            ("#ddeaff", "#1f6feb", "#0b3d91", "state visited")
        } else {
            ("#ffffff", "#9aa3ad", "#4b5563", "state")
        };
        let _ = writeln!(
            svg,
            r#"<g class="{class}" data-state="{s}"><rect x="{:.1}" y="{:.1}" width="{W}" height="{H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="2"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{text}" font-size="14" font-family="system-ui, sans-serif">{s}</text></g>"#,
            x - W / 2.0,
            y - H / 2.0,
            y + 5.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Revenue per day as bars, orders per day as dots, over `days` (day, orders, revenue); the
/// tallest bar's amount labels the scale.
pub fn daily_chart(days: &[(String, i64, i64)], currency: &str) -> String {
    let (w, h, left, bottom) = (720.0, 200.0, 70.0, 24.0);
    let max_rev = days.iter().map(|d| d.2).max().unwrap_or(0).max(1) as f64;
    let max_orders = days.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let n = days.len().max(1) as f64;
    let slot = (w - left - 10.0) / n;
    let plot_h = h - bottom - 12.0;
    let total_orders: i64 = days.iter().map(|d| d.1).sum();
    let total_revenue: i64 = days.iter().map(|d| d.2).sum();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" xmlns="http://www.w3.org/2000/svg"><title>Revenue (bars) and orders (dots) per day in {currency}: {total_orders} orders, {} revenue over {} days</title>
<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#9aa3ad"/>
<text x="{:.1}" y="16" text-anchor="end" font-size="11" fill="#4b5563" font-family="system-ui, sans-serif">{}</text>
<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#4b5563" font-family="system-ui, sans-serif">0</text>
"##,
        ordo_domain::money::human(total_revenue, currency),
        days.len(),
        h - bottom,
        w - 10.0,
        h - bottom,
        left - 6.0,
        ordo_domain::money::human(max_rev as i64, currency),
        left - 6.0,
        h - bottom
    );
    for (i, (day, orders, revenue)) in days.iter().enumerate() {
        let x = left + i as f64 * slot;
        let bar = (*revenue as f64 / max_rev) * plot_h;
        let _ = writeln!(
            svg,
            r##"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#8fb8f5"><title>{day}: {} revenue, {orders} orders</title></rect>"##,
            x + slot * 0.15,
            h - bottom - bar,
            slot * 0.7,
            bar,
            ordo_domain::money::human(*revenue, currency)
        );
        if *orders > 0 {
            let y = h - bottom - (*orders as f64 / max_orders) * plot_h;
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{y:.1}" r="3.5" fill="#0b3d91"/>"##,
                x + slot / 2.0
            );
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            r##"<text x="{left}" y="{:.1}" font-size="11" fill="#4b5563" font-family="system-ui, sans-serif">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#4b5563" font-family="system-ui, sans-serif">{}</text>"##,
            h - 6.0,
            first.0,
            w - 10.0,
            h - 6.0,
            last.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagram_marks_the_current_state_and_the_path_taken() {
        let taken = vec![
            ("pending".to_owned(), "paid".to_owned()),
            ("paid".to_owned(), "refunded".to_owned()),
        ];
        let svg = state_diagram("refunded", &taken);
        assert!(svg.contains(r#"class="state current" data-state="refunded""#));
        assert!(svg.contains(r#"class="state visited" data-state="paid""#));
        assert!(svg.contains(r#"class="state" data-state="fulfilled""#));
        assert!(svg.contains(r#"class="edge taken" data-from="pending" data-to="paid""#));
        assert!(svg.contains(r#"class="edge" data-from="paid" data-to="fulfilled""#));
        assert_eq!(svg.matches("<path class=\"edge").count(), TRANSITIONS.len());
        assert!(svg.contains("Path taken: placed → paid → refunded"));
    }

    #[test]
    fn the_chart_scales_to_the_best_day() {
        let days = vec![("2026-11-01".to_owned(), 2, 5000), ("2026-11-02".to_owned(), 0, 0)];
        let svg = daily_chart(&days, "EUR");
        assert!(svg.contains("€50.00"), "{svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(svg.contains("2 orders, €50.00 revenue over 2 days"));
    }
}
