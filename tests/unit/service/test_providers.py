"""The onnxruntime execution providers asked for, given those available."""

from service.runtime.providers import CPU, CUDA, wanted_providers


def test_provider_choice() -> None:
    assert wanted_providers(["auto"], [CUDA, CPU]) == [CUDA, CPU]
    assert wanted_providers(["auto"], [CPU]) == [CPU]
    assert wanted_providers([CUDA], [CPU]) == [CPU]
    assert wanted_providers([CPU], [CUDA, CPU]) == [CPU]
