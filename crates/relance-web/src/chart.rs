//! Charts as SVG, drawn by `plotters`: one or more series over the buckets of a period,
//! as lines or (for one series) bars. The numbers always come in a table beside the chart.

use plotters::prelude::*;

/// One series of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
    pub color: RGBColor,
}

pub const BLUE: RGBColor = RGBColor(0x1f, 0x5f, 0x99);
pub const RED: RGBColor = RGBColor(0xb0, 0x3a, 0x2e);
pub const GREEN: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
pub const OCHRE: RGBColor = RGBColor(0xb8, 0x86, 0x0b);

const SIZE: (u32, u32) = (720, 300);

/// An SVG chart of `series` over the buckets named `labels`, with `aria` as its accessible
/// name. `bars` draws the first series as bars instead of lines.
pub fn svg(aria: &str, labels: &[String], series: &[Series], bars: bool) -> String {
    let mut out = String::new();
    if let Err(e) = draw(&mut out, labels, series, bars) {
        tracing::warn!(error = %e, "chart not drawn");
        return String::new();
    }
    let aria = maud::html! { (aria) }.into_string();
    out.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{aria}\" "),
        1,
    )
}

fn draw(
    out: &mut String,
    labels: &[String],
    series: &[Series],
    bars: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = labels.len().max(1);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    {
        let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d((0..n).into_segmented(), 0f64..max)?;
        let step = n.div_ceil(8).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) if i % step == 0 => {
                    labels.get(*i).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|y| {
                if *y >= 10_000.0 {
                    format!("{:.0}k", y / 1000.0)
                } else {
                    format!("{y:.0}")
                }
            })
            .draw()?;
        for (k, s) in series.iter().enumerate() {
            if bars && k == 0 {
                chart.draw_series(
                    Histogram::vertical(&chart)
                        .style(s.color.filled())
                        .margin(3)
                        .data(s.values.iter().enumerate().map(|(i, v)| (i, *v))),
                )?;
            } else {
                let color = s.color;
                chart
                    .draw_series(LineSeries::new(
                        s.values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (SegmentValue::CenterOf(i), *v)),
                        color.stroke_width(2),
                    ))?
                    .label(s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
        }
        if series.len() > 1 || !bars {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .draw()?;
        }
        root.present()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_without_style_attributes_or_scripts() {
        let labels: Vec<String> = ["2020-03", "2020-04", "2020-05"].map(String::from).to_vec();
        let svg = svg(
            "Arrêts <b>",
            &labels,
            &[Series {
                name: "arrêts",
                values: vec![1.0, 5.0, 2.0],
                color: RED,
            }],
            false,
        );
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Arrêts &lt;b&gt;\""),
            "{svg}"
        );
        assert!(!svg.contains("style="), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
    }
}
