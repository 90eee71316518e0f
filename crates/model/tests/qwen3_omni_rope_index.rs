//! Multimodal rotary positions against transformers' own `get_rope_index`
//! (`tools/reference/qwen3_omni_rope_index.py`): text only, audio + text
//! (both on the reference's plain 0, 1, 2, … path), images, videos with
//! fractional temporal steps, audio inside video, for
//! `position_id_per_seconds` 25 and 13.

#![allow(clippy::unwrap_used)]

use omnivox_model::nn::Positions;
use omnivox_model::qwen3_omni::{MediaLayout, RopeIndexConfig, rope_index};
use omnivox_model::testing::fixture_dir;
use serde_json::Value;

fn cases() -> Value {
    let text =
        std::fs::read_to_string(fixture_dir("qwen3_omni_rope_index").join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn grids(v: &Value) -> Vec<[usize; 3]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| usizes(g).try_into().unwrap())
        .collect()
}

fn config(all: &Value, pps: u32) -> RopeIndexConfig {
    let id = |k: &str| all["ids"][k].as_u64().unwrap() as u32;
    RopeIndexConfig {
        audio_token_id: id("audio_pad"),
        audio_start_token_id: id("audio_start"),
        image_token_id: id("image_pad"),
        video_token_id: id("video_pad"),
        vision_start_token_id: id("vision_start"),
        position_id_per_seconds: pps,
        spatial_merge_size: all["spatial_merge_size"].as_u64().unwrap() as usize,
    }
}

#[test]
fn positions_equal_the_reference_on_every_case() {
    let all = cases();
    let list = all["cases"].as_array().unwrap();
    assert!(list.len() >= 20);
    for case in list {
        let name = format!(
            "{} (pps {})",
            case["name"].as_str().unwrap(),
            case["position_id_per_seconds"]
        );
        let cfg = config(
            &all,
            case["position_id_per_seconds"].as_u64().unwrap() as u32,
        );
        let ids: Vec<u32> = usizes(&case["input_ids"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        let audio = usizes(&case["audio_frames"]);
        let images = grids(&case["image_grids"]);
        let videos = grids(&case["video_grids"]);
        let seconds: Vec<f32> = case["video_seconds_per_grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let media = MediaLayout {
            audio_frames: &audio,
            image_grids: &images,
            video_grids: &videos,
            video_seconds_per_grid: &seconds,
            use_audio_in_video: case["use_audio_in_video"].as_bool().unwrap(),
        };
        let got = rope_index(&ids, &media, &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
        for axis in 0..3 {
            let want: Vec<f32> = case["positions"][axis]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got.positions[axis], want, "{name}: axis {axis}");
        }
        assert_eq!(
            got.delta,
            case["delta"].as_f64().unwrap() as f32,
            "{name}: delta"
        );
    }
}

#[test]
fn audio_and_text_degenerate_to_a_plain_range() {
    let all = cases();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "audio_text")
        .unwrap();
    let ids: Vec<u32> = usizes(&case["input_ids"])
        .into_iter()
        .map(|x| x as u32)
        .collect();
    let audio = usizes(&case["audio_frames"]);
    let media = MediaLayout {
        audio_frames: &audio,
        ..MediaLayout::default()
    };
    let got = rope_index(&ids, &media, &config(&all, 13)).unwrap();
    let range: Vec<i64> = (0..ids.len() as i64).collect();
    assert_eq!(
        got.to_positions().unwrap(),
        Positions::Multimodal([range.clone(), range.clone(), range])
    );
    assert_eq!(got.continuation(ids.len(), 2).unwrap(), {
        let n = ids.len() as i64;
        Positions::Multimodal([vec![n, n + 1], vec![n, n + 1], vec![n, n + 1]])
    });
}

#[test]
fn fractional_positions_and_missing_media_are_errors() {
    let all = cases();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "video_fractional")
        .unwrap();
    let ids: Vec<u32> = usizes(&case["input_ids"])
        .into_iter()
        .map(|x| x as u32)
        .collect();
    let (audio, videos) = (usizes(&case["audio_frames"]), grids(&case["video_grids"]));
    let media = MediaLayout {
        audio_frames: &audio,
        video_grids: &videos,
        video_seconds_per_grid: &[0.5],
        ..MediaLayout::default()
    };
    let cfg = config(&all, 25);
    let got = rope_index(&ids, &media, &cfg).unwrap();
    assert!(
        got.to_positions()
            .unwrap_err()
            .to_string()
            .contains("fractional")
    );
    // The prompt holds an audio clip but no length was given for it.
    let media = MediaLayout {
        audio_frames: &[],
        ..media
    };
    assert!(rope_index(&ids, &media, &cfg).is_err());
    // A vision start as the last token.
    let media = MediaLayout {
        image_grids: &[[1, 2, 2]],
        ..MediaLayout::default()
    };
    assert!(rope_index(&[1, cfg.vision_start_token_id], &media, &cfg).is_err());
}
