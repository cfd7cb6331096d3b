// SPDX-License-Identifier: MIT
//! ring_gan: examples/gan_ring.c through the Rust binding, call for call (the
//! same nets, options and generator draws in the same order), so that its
//! --samples-out file is byte-identical to the C example's.
//!
//!   ring_gan [--seed N] [--steps N] [--out FILE.png] [--samples-out FILE]
//!
//! G: 2-128-128-2 ReLU; D: 2-128-128-1 LeakyReLU(0.2); non-saturating loss;
//! Adam lr 1e-3, betas 0.5 / 0.999; batch 256. Exits 1 unless all 8 modes are
//! covered with at least 70% high-quality samples, 2 on errors.
use genmodel::{
    png_write_grid, Gan, GanLoss, GanOptions, GanStats, Init, Layer, Net, OptimizerKind, OptimizerOptions, Result, Rng,
    RngRef, Tensor,
};
use std::process::ExitCode;
use std::time::Instant;

const BATCH: usize = 256;
const HIDDEN: usize = 128;
const N_EVAL: usize = 2500;
const PIX: usize = 256;
const RADIUS: f64 = 2.0;
const STD: f64 = 0.02;
const HQ: f64 = 0.1;
#[allow(clippy::approx_constant)] // the C example's constant, not f64::consts::PI: the data must match
const PI: f64 = 3.14159265358979;

fn mlp(inp: usize, out: usize, leaky: bool, rng: &mut RngRef) -> Result<Net> {
    let mut net = Net::new()?;
    for i in 0..2 {
        net.add(Layer::dense(if i == 0 { inp } else { HIDDEN }, HIDDEN, Init::Torch, Some(rng))?)?;
        net.add(if leaky { Layer::leaky_relu(0.2)? } else { Layer::relu()? })?;
    }
    net.add(Layer::dense(HIDDEN, out, Init::Torch, Some(rng))?)?;
    Ok(net)
}

/// Angle of mode k.
fn angle(k: usize) -> f64 {
    2.0 * PI * k as f64 / 8.0
}

/// n points of the mixture into x [n x 2].
fn ring_batch(rng: &mut RngRef, x: &mut [f32], n: usize) -> Result<()> {
    let (mut u, mut e) = ([0f32; BATCH], [0f32; 2 * BATCH]);
    rng.uniform(&mut u[..n])?;
    rng.normal(&mut e[..2 * n])?;
    for i in 0..n {
        let a = angle(((u[i] * 8.0) as i32 & 7) as usize);
        x[2 * i] = (RADIUS * a.cos() + STD * e[2 * i] as f64) as f32;
        x[2 * i + 1] = (RADIUS * a.sin() + STD * e[2 * i + 1] as f64) as f32;
    }
    Ok(())
}

/// Dot of radius r at (x, y) in an RGB image [3 x PIX x PIX].
fn dot(img: &mut [f32], x: f64, y: f64, r: i32, rgb: [f32; 3]) {
    let (px, py) = (((x + 3.0) / 6.0 * PIX as f64) as i32, ((3.0 - y) / 6.0 * PIX as f64) as i32);
    for dy in -r..=r {
        for dx in -r..=r {
            let (xx, yy) = (px + dx, py + dy);
            if xx < 0 || yy < 0 || xx >= PIX as i32 || yy >= PIX as i32 {
                continue;
            }
            for (c, v) in rgb.iter().enumerate() {
                img[c * PIX * PIX + yy as usize * PIX + xx as usize] = *v;
            }
        }
    }
}

/// The leading decimal digits of `s` (as strtoull/atol read them), else 0.
fn c_number(s: &str) -> u64 {
    let digits: String = s.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

struct Args {
    seed: u64,
    steps: u64,
    png: String,
    raw: Option<String>,
}

fn parse_args() -> Option<Args> {
    let mut a = Args { seed: 1, steps: 6000, png: "gan_ring.png".into(), raw: None };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.chunks(2);
    for pair in &mut it {
        match pair {
            [flag, v] if flag == "--seed" => a.seed = c_number(v),
            [flag, v] if flag == "--steps" => a.steps = c_number(v),
            [flag, v] if flag == "--out" => a.png = v.clone(),
            [flag, v] if flag == "--samples-out" => a.raw = Some(v.clone()),
            _ => return None,
        }
    }
    Some(a)
}

fn run(a: &Args) -> Result<ExitCode> {
    let mut rng = Rng::new(a.seed)?;
    let (gen, dis) = (mlp(2, 2, false, &mut rng)?, mlp(2, 1, true, &mut rng)?);
    let mut adam = OptimizerOptions::new(OptimizerKind::Adam);
    adam.lr = 1e-3;
    adam.beta1 = 0.5;
    let o = GanOptions {
        latent: 2,
        loss: GanLoss::NonSaturating,
        g_optimizer: Some(adam),
        d_optimizer: Some(adam),
        seed: a.seed,
        ..GanOptions::default()
    };
    let mut gan = Gan::new(gen, dis, &o)?; // owns gen and dis now

    let mut x = Tensor::new(&[BATCH, 2])?;
    let t0 = Instant::now();
    for s in 1..=a.steps {
        ring_batch(&mut rng, x.data_mut(), BATCH)?;
        let st: GanStats = gan.train_step(&x, None)?;
        if s % 1000 == 0 {
            println!(
                "step {s:5}  D loss {:.3}  G loss {:.3}  D(x) {:.3}  D(G(z)) {:.3}",
                st.d_loss, st.g_loss, st.d_real, st.d_fake
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();

    let mut samples = Tensor::new(&[N_EVAL, 2])?;
    gan.sample(N_EVAL, None, &mut samples)?;
    let p = samples.data();
    if let Some(raw) = &a.raw {
        let bytes: Vec<u8> = p.iter().flat_map(|v| v.to_ne_bytes()).collect();
        if std::fs::write(raw, bytes).is_err() {
            eprintln!("ring_gan: cannot write {raw}");
            return Ok(ExitCode::from(1));
        }
    }
    let (mut per_mode, mut hq) = ([0usize; 8], 0usize);
    for i in 0..N_EVAL {
        for (k, count) in per_mode.iter_mut().enumerate() {
            let (dx, dy) = (p[2 * i] as f64 - RADIUS * angle(k).cos(), p[2 * i + 1] as f64 - RADIUS * angle(k).sin());
            if (dx * dx + dy * dy).sqrt() < HQ {
                *count += 1;
                hq += 1;
                break;
            }
        }
    }
    let modes = per_mode.iter().filter(|&&c| c >= N_EVAL / 100).count(); // >= 1% of samples
    let hq_frac = hq as f64 / N_EVAL as f64;

    // scatter plot: samples in black, centres in red
    let mut img = Tensor::new(&[1, 3, PIX, PIX])?;
    img.fill(1.0)?;
    for i in 0..N_EVAL {
        dot(img.data_mut(), p[2 * i] as f64, p[2 * i + 1] as f64, 0, [0.0; 3]);
    }
    for k in 0..8 {
        dot(img.data_mut(), RADIUS * angle(k).cos(), RADIUS * angle(k).sin(), 2, [0.9, 0.1, 0.1]);
    }
    png_write_grid(&a.png, &img, 1, 1, 0, 1.0)?;

    println!(
        "seed={} steps={} modes={modes}/8 high_quality={hq_frac:.3} seconds={secs:.2} steps_per_second={:.0} plot={}",
        a.seed,
        a.steps,
        a.steps as f64 / secs,
        a.png
    );
    Ok(ExitCode::from(if modes == 8 && hq_frac >= 0.70 { 0 } else { 1 }))
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!("usage: ring_gan [--seed N] [--steps N] [--out FILE.png] [--samples-out FILE]");
        return ExitCode::from(2);
    };
    run(&args).unwrap_or_else(|e| {
        eprintln!("ring_gan: {e}");
        ExitCode::from(2)
    })
}
