//! The small chart embedded in the digest: completion per unit against 序时进度, drawn to PNG
//! with plotters and a CJK-capable font found on the machine.

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FAMILY: &str = "fayuan-cjk";

/// Registers the first readable font of `candidates` once per process. Returns the font used.
fn font(candidates: &[PathBuf]) -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        for path in candidates {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                tracing::debug!(font = %path.display(), "chart font");
                return Some(path.clone());
            }
        }
        None
    })
    .as_deref()
}

/// Draws the chart into `path` (PNG). `Err` says why there is no chart (no CJK font, a drawing
/// error); the digest then goes without it and says so.
pub fn completion(
    path: &Path,
    names: &[String],
    rates: &[f64],
    schedule: f64,
    fonts: &[PathBuf],
) -> Result<(), String> {
    if font(fonts).is_none() {
        return Err(format!(
            "no font with Chinese characters found (tried {})",
            fonts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    draw(path, names, rates, schedule).map_err(|e| format!("drawing the chart: {e}"))
}

fn draw(
    path: &Path,
    names: &[String],
    rates: &[f64],
    schedule: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (640, 320)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = rates.iter().copied().fold(schedule, f64::max).max(0.1) * 1.2;
    let n = names.len().max(1) as i32;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            if schedule >= 1.0 {
                "各单位全年完成率"
            } else {
                "完成率与序时进度"
            },
            (FAMILY, 20),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)?;
    let label = |x: &SegmentValue<i32>| match x {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_max_light_lines(1)
        .x_labels(names.len())
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .label_style((FAMILY, 13))
        .draw()?;
    let rgb = |c: crate::palette::Colour| {
        let (r, g, b) = c.rgb();
        RGBColor(r, g, b)
    };
    let line = rgb(crate::palette::CHART_SCHEDULE);
    chart.draw_series(rates.iter().enumerate().map(|(i, r)| {
        let colour = if *r < schedule {
            rgb(crate::palette::CHART_BEHIND)
        } else {
            rgb(crate::palette::CHART_BAR)
        };
        let i = i as i32;
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *r),
            ],
            colour.filled(),
        );
        bar.set_margin(0, 0, 6, 6);
        bar
    }))?;
    chart
        .draw_series(LineSeries::new(
            [
                (SegmentValue::Exact(0), schedule),
                (SegmentValue::Exact(n), schedule),
            ],
            line.stroke_width(2),
        ))?
        .label(if schedule >= 1.0 {
            "年度目标 100%".to_string()
        } else {
            format!("序时进度 {:.2}%", schedule * 100.0)
        })
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], line.stroke_width(2)));
    chart
        .configure_series_labels()
        .label_font((FAMILY, 13))
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
