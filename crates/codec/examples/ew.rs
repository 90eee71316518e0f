#![allow(clippy::unwrap_used, clippy::print_stdout)]
use burn::tensor::{Distribution, Tensor};
use std::time::Instant;
type B = burn_flex::Flex;
fn sync<const D: usize>(t: &Tensor<B, D>) {
    let _ = t.clone().into_data();
}
fn time<const D: usize>(name: &str, f: impl Fn() -> Tensor<B, D>) {
    let r = f();
    sync(&r);
    let t = Instant::now();
    for _ in 0..5 {
        let r = f();
        sync(&r);
    }
    println!("{name}: {:?}", t.elapsed() / 5);
}
fn main() {
    let d = Default::default();
    let x = Tensor::<B, 3>::random([1, 192, 15816], Distribution::Normal(0.0, 1.0), &d);
    let c = Tensor::<B, 3>::random([1, 192, 1], Distribution::Normal(0.0, 1.0), &d);
    let y = Tensor::<B, 3>::random([1, 192, 15816], Distribution::Normal(0.0, 1.0), &d);
    time("sync only", || x.clone());
    time("sin", || x.clone().sin());
    time("mul same", || x.clone() * y.clone());
    time("mul bcast", || x.clone() * c.clone());
    time("add same", || x.clone() + y.clone());
    time("square", || x.clone().square());
    time("exp", || x.clone().exp());
    let xs = x.clone().narrow(2, 10, 15000);
    time("narrowed sin", || xs.clone().sin());
    time("snake", || {
        let s = (x.clone() * c.clone()).sin();
        x.clone() + s.clone() * s * c.clone()
    });
}
