"""Which dtype policy training uses on which machine."""

from __future__ import annotations

import pytest

from fer_core.core import device


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(device, "gpu_names", lambda: ())


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 {flags}\n")
    return path


def test_cpu_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    assert device.cpu_has_bfloat16(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert device.cpu_has_bfloat16(_cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not device.cpu_has_bfloat16(_cpuinfo(tmp_path, "avx2 avx512f"))
    assert not device.cpu_has_bfloat16(tmp_path / "missing")


def test_auto_uses_bfloat16_only_on_a_cpu_that_has_it(cpu_only, monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bfloat16", lambda: True)
    assert device.precision_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(device, "cpu_has_bfloat16", lambda: False)
    assert device.precision_policy("auto") == "float32"
    assert device.precision_policy("on") == "mixed_bfloat16"


def test_off_is_float32_everywhere_and_a_gpu_gets_float16(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bfloat16", lambda: True)
    monkeypatch.setattr(device, "gpu_names", lambda: ("NVIDIA H100",))
    assert device.precision_policy("off") == "float32"
    assert device.precision_policy("auto") == device.precision_policy("on") == "mixed_float16"


def test_a_runs_dtype_policy_is_put_back_afterwards_even_when_it_fails():
    import keras

    previous = keras.mixed_precision.global_policy().name
    with (pytest.raises(RuntimeError, match="crashed"),
          device.configured(policy="mixed_bfloat16", seed=1)):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError("training crashed")
    assert keras.mixed_precision.global_policy().name == previous
