use burn::tensor::Tensor;
use omnivox_model::QwenForCausalLM;
use omnivox_model::testing::Flex;
use std::time::Instant;
type B = Flex;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2] * 1e3
}
/// w stored [out, in]
fn hub(x: &Tensor<B, 2>, ws: &[Tensor<B, 2>], p: usize) -> f64 {
    let t = Instant::now();
    for w in ws {
        let [o, i] = w.dims();
        let y = if p == 1 {
            x.clone().matmul(w.clone().transpose())
        } else {
            let wb = w.clone().reshape([p, o / p, i]).swap_dims(1, 2);
            x.clone()
                .unsqueeze_dim::<3>(0)
                .matmul(wb)
                .swap_dims(0, 1)
                .reshape([1, o])
        };
        let _ = y.into_data();
    }
    t.elapsed().as_secs_f64()
}
fn main() {
    let dev = Default::default();
    let dir = std::env::args()
        .nth(1)
        .expect("usage: profile_gemv CHECKPOINT_DIR");
    let model = QwenForCausalLM::<B>::from_pretrained(&dir, &dev).expect("load the checkpoint");
    let x = Tensor::<B, 2>::ones([1, 1024], &dev);
    let mut ws = vec![];
    for l in &model.model.layers {
        if let omnivox_model::decoder::FeedForward::Dense(m) = &l.mlp {
            ws.extend([m.gate_proj.weight.to_dense(), m.up_proj.weight.to_dense()]);
        }
    }
    let wt: Vec<Tensor<B, 2>> = ws
        .iter()
        .map(|w| Tensor::<B, 2>::from_data(w.clone().transpose().into_data(), &dev))
        .collect();
    drop(ws);
    let emb = vec![model.model.embed_tokens.weight.val()];
    let mb: usize = wt
        .iter()
        .map(|w| w.dims()[0] * w.dims()[1] * 4)
        .sum::<usize>()
        >> 20;
    let ps = [1usize, 2, 4, 8];
    let mut res: Vec<Vec<f64>> = vec![vec![]; 8];
    for _ in 0..11 {
        for (k, p) in ps.iter().enumerate() {
            res[k].push(hub(&x, &wt, *p));
            res[4 + k].push(hub(&x, &emb, *p));
        }
    }
    for (k, p) in ps.iter().enumerate() {
        let m = med(res[k].clone());
        let e = med(res[4 + k].clone());
        eprintln!(
            "hub split {p}: mlp {:.1} ms = {:.1} GB/s; lm_head {:.1} ms = {:.1} GB/s",
            m,
            mb as f64 * 1.048576 / m,
            e,
            622.3 / e
        );
    }
}
