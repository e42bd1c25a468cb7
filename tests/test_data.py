"""lead_hf.data: loading, column detection, label checks, balanced subsampling, RGB conversion."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from _tiny import make_image, make_imagefolder

from lead_hf.data import ImageDataset, load_image_dataset, open_rgb_image, subsample_per_class
from lead_hf.errors import InvalidInputError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # unbalanced on purpose: 7, 4 and 9 images
    return make_imagefolder(tmp_path_factory.mktemp("data"), n_classes=3, per_class=[7, 4, 9], size=16)


def _in_memory(labels, label_feature=None, **extra_columns):
    images = [make_image(i, 0, size=8) for i in range(len(labels))]
    features = {"image": datasets.Image(), "label": label_feature or datasets.Value("int64")}
    features.update({name: datasets.Value("string") for name in extra_columns})
    return datasets.Dataset.from_dict({"image": images, "label": labels, **extra_columns},
                                      features=datasets.Features(features))


def test_imagefolder_columns_labels_and_names(folder):
    data = load_image_dataset(folder)
    assert isinstance(data, ImageDataset)
    assert (data.image_column, data.label_column, data.split) == ("image", "label", "train")
    assert data.class_names == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(data.labels, [0] * 7 + [1] * 4 + [2] * 9)
    assert data.labels.dtype == np.int64 and len(data) == 20 == len(data.dataset)
    assert data.name == str(folder)


def test_fingerprint_is_stable_and_tracks_sampling_and_split(folder):
    a, b = load_image_dataset(folder), load_image_dataset(str(folder))
    assert a.fingerprint == b.fingerprint
    sampled = {load_image_dataset(folder, max_samples_per_class=3, seed=s).fingerprint for s in (0, 0, 1)}
    assert len(sampled) == 2 and a.fingerprint not in sampled
    assert load_image_dataset(a.dataset).fingerprint == a.fingerprint  # same rows, split and columns
    assert load_image_dataset(a.dataset.select(range(10))).fingerprint != a.fingerprint


def test_balanced_subsampling_is_seeded_and_keeps_order(folder):
    full = load_image_dataset(folder)
    sub = load_image_dataset(folder, max_samples_per_class=5, seed=3)
    np.testing.assert_array_equal(np.bincount(sub.labels), [5, 4, 5])  # class 1 has only 4: kept whole
    again = load_image_dataset(folder, max_samples_per_class=5, seed=3)
    other = load_image_dataset(folder, max_samples_per_class=5, seed=4)
    paths = lambda d: [cell["path"] for cell in d.dataset.cast_column("image", datasets.Image(decode=False))["image"]]  # noqa: E731
    assert paths(sub) == paths(again) and paths(sub) != paths(other)
    assert paths(sub) == sorted(paths(sub))  # dataset order (files are listed sorted) inside the selection
    assert set(paths(sub)) <= set(paths(full))
    # labels stay aligned with the selected rows
    assert [int(v) for v in sub.dataset["label"]] == sub.labels.tolist()
    # an ImageDataset is returned as is, or subsampled further
    assert load_image_dataset(sub) is sub
    np.testing.assert_array_equal(np.bincount(subsample_per_class(sub, 2).labels), [2, 2, 2])
    with pytest.raises(InvalidInputError, match=r"label_column='other' differs from the ImageDataset's 'label'"):
        load_image_dataset(sub, label_column="other")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_max_samples_per_class(folder, bad):
    with pytest.raises(InvalidInputError, match="max_samples_per_class must be a positive int"):
        load_image_dataset(folder, max_samples_per_class=bad)


def test_dataset_dict_split_selection_and_unknown_split(folder):
    split = load_image_dataset(folder).dataset
    both = datasets.DatasetDict({"train": split, "test": split.select(range(5, 11))})
    assert len(load_image_dataset(both, split="test")) == 6
    with pytest.raises(InvalidInputError, match=r"no split 'validation'.*\['test', 'train'\]"):
        load_image_dataset(both, split="validation")
    with pytest.raises(InvalidInputError, match=r"no split 'test'.*\['train'\]"):
        load_image_dataset(folder, split="test")


def test_label_column_detection_by_name_and_encoding_of_strings():
    data = load_image_dataset(_in_memory([0, 0, 0], target=["dog", "cat", "dog"]).remove_columns("label"))
    assert data.label_column == "target"
    assert data.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(data.labels, [1, 0, 1])
    ints = load_image_dataset(_in_memory([5, 9, 5, 7]))
    assert ints.class_names == ["5", "7", "9"] and ints.labels.tolist() == [0, 2, 0, 1]


def test_classlabel_wins_over_names_and_override():
    rows = _in_memory([0, 1, 1], datasets.ClassLabel(names=["a", "b"]), label_text=["x", "y", "z"])
    assert load_image_dataset(rows).label_column == "label"
    data = load_image_dataset(rows, label_column="label_text")
    assert data.class_names == ["x", "y", "z"]


# (dataset, expected error): each a different way the labels are not usable for classification
BAD_LABELS = [
    (lambda: _in_memory([0.5, 1.5, 2.0], datasets.Value("float32")), r"holds floats.*regression"),
    (lambda: _in_memory([1, 1, 1]), r"has 1 class\(es\) \['1'\]; at least 2"),
    (lambda: _in_memory([0, -1, 1], datasets.ClassLabel(names=["a", "b"])), r"1 unlabelled rows \(label -1\)"),
    (lambda: _in_memory([0, 1]).rename_column("label", "stuff"), r"no label column found.*\['stuff'\].*label_column="),
]


@pytest.mark.parametrize(("make", "match"), BAD_LABELS)
def test_unusable_labels_raise(make, match):
    with pytest.raises(InvalidInputError, match=match):
        load_image_dataset(make())


def test_column_errors_name_the_columns_and_the_argument():
    rows = _in_memory([0, 1])
    with pytest.raises(InvalidInputError, match=r"label_column='nope' is not a column; columns: \['label'\]"):
        load_image_dataset(rows, label_column="nope")
    with pytest.raises(InvalidInputError, match=r"image_column='pic' is not a column.*\['image', 'label'\]"):
        load_image_dataset(rows, image_column="pic")
    no_image = datasets.Dataset.from_dict({"x": [1, 2], "label": [0, 1]})
    with pytest.raises(InvalidInputError, match=r"no image column.*\['x', 'label'\]; pass image_column="):
        load_image_dataset(no_image)


def test_unknown_sources_raise_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match=r"is not in the local cache and offline mode is on.*unset it to download"):
        load_image_dataset("no-such-owner/no-such-dataset")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_image_dataset(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="got int"):
        load_image_dataset(3)


def test_folders_that_are_not_classification_datasets_say_what_they_hold(tmp_path):
    one = make_imagefolder(tmp_path, n_classes=1, per_class=3, name="one")
    with pytest.raises(InvalidInputError, match=r"one/train' has one class folder \('class_0'\): ranking needs at least 2"):
        load_image_dataset(one)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        make_image(i, 0).save(flat / f"{i}.png")
    with pytest.raises(InvalidInputError, match=r"flat' holds 3 images but no class subfolders: labels come from the "
                                                r"folder names \(<dir>/<class>/<image>"):
        load_image_dataset(flat)
    with pytest.raises(InvalidInputError, match=r"0.png' is a file, not a folder; pass the imagefolder directory"):
        load_image_dataset(flat / "0.png")


def test_only_the_chosen_split_is_read_and_quietly(tmp_path, capfd):
    root = make_imagefolder(tmp_path, n_classes=2, per_class=3)
    (root / "test" / "not_a_class").mkdir(parents=True)
    (root / "test" / "not_a_class" / "broken.png").write_bytes(b"garbage")  # never indexed for split="train"
    capfd.readouterr()
    data = load_image_dataset(root, split="train")
    assert len(data) == 6 and data.class_names == ["class_0", "class_1"]
    assert "Generating" not in capfd.readouterr().err  # no datasets progress bars for a local folder


def test_open_rgb_image_converts_every_mode(tmp_path):
    for mode in ("L", "RGBA", "P", "RGB", "I;16"):
        image = make_image(0, 1, size=8).convert(mode) if mode != "I;16" else make_image(0, 1, size=8).convert("I;16")
        path = tmp_path / f"x_{mode.replace(';', '')}.png"
        image.save(path)
        for cell in (image, str(path), {"bytes": path.read_bytes(), "path": None}, {"bytes": None, "path": str(path)}):
            out = open_rgb_image(cell)
            assert out.mode == "RGB" and out.size == (8, 8)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(OSError):
        open_rgb_image(str(tmp_path / "bad.png"))


@pytest.mark.parametrize(("error", "match"), [
    (ValueError('Unknown split "valid". Should be one of [\'train\', \'test\'].'),
     r"dataset 'owner/data' has no split 'valid' \(Unknown split .*'test'\]\.\); pass split="),
    (datasets.exceptions.DatasetNotFoundError("Dataset 'owner/data' doesn't exist on the Hub"),
     r"dataset 'owner/data' (was not found on the Hub|is not in the local cache and offline mode is on).*check the id"),
])
def test_hub_loading_errors_are_rephrased(monkeypatch, error, match):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(datasets, "load_dataset", fail)
    with pytest.raises(InvalidInputError, match=match):
        load_image_dataset("owner/data", split="valid")


def test_hub_id_is_loaded_with_the_split(monkeypatch):
    rows = _in_memory([0, 1, 1])
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append((args, kwargs)) or rows)
    data = load_image_dataset("owner/data", split="test")
    assert calls == [(("owner/data",), {"split": "test"})]
    assert (data.name, data.split, data.labels.tolist()) == ("owner/data", "test", [0, 1, 1])
