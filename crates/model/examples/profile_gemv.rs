use burn::tensor::Tensor;
use omnivox_model::testing::Flex;
use omnivox_model::QwenForCausalLM;
use std::time::Instant;
type B = Flex;
fn med(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.total_cmp(b)); v[v.len() / 2] * 1e3 }
fn run(x: &Tensor<B, 2>, ws: &[Tensor<B, 2>], p: usize) -> f64 {
    let t = Instant::now();
    for w in ws {
        let y = if p == 1 { x.clone().matmul(w.clone()) } else {
            let [i, o] = w.dims();
            let wb = w.clone().reshape([i, p, o / p]).swap_dims(0, 1);
            x.clone().unsqueeze_dim::<3>(0).matmul(wb).swap_dims(0, 1).reshape([1, o])
        };
        let _ = y.into_data();
    }
    t.elapsed().as_secs_f64()
}
fn main() {
    let dev = Default::default();
    let dir = std::env::args().nth(1).unwrap();
    let model = QwenForCausalLM::<B>::from_pretrained(&dir, &dev).unwrap();
    let x = Tensor::<B, 2>::ones([1, 1024], &dev);
    let mut ws = vec![];
    for l in &model.model.layers {
        let a = &l.self_attn;
        ws.extend([a.q_proj.weight.val(), a.k_proj.weight.val(), a.v_proj.weight.val()]);
        if let omnivox_model::decoder::FeedForward::Dense(m) = &l.mlp { ws.extend([m.gate_proj.weight.val(), m.up_proj.weight.val()]); }
    }
    let mb: usize = ws.iter().map(|w| w.dims()[0] * w.dims()[1] * 4).sum::<usize>() >> 20;
    let mut res: Vec<Vec<f64>> = vec![vec![]; 4];
    for _ in 0..15 { for (i, p) in [1, 2, 4, 8].iter().enumerate() { res[i].push(run(&x, &ws, *p)); } }
    for (i, p) in [1, 2, 4, 8].iter().enumerate() { let m = med(res[i].clone()); eprintln!("split {p}: {:.1} ms for {mb} MiB = {:.1} GB/s", m, mb as f64 * 1.048576 / m); }
}
