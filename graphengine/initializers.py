"""``ge.initializers``: factories returning Initializer objects for ``get_variable``."""
from .variables import (
    Constant,
    Initializer,
    Ones,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    lecun_normal,
)

zeros, ones, constant = Zeros, Ones, Constant
random_normal, truncated_normal, random_uniform = RandomNormal, TruncatedNormal, RandomUniform
variance_scaling = VarianceScaling
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal

__all__ = ["Constant", "Initializer", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "Zeros", "constant", "glorot_normal", "glorot_uniform", "he_normal",
           "he_uniform", "lecun_normal", "ones", "random_normal", "random_uniform",
           "truncated_normal", "variance_scaling", "xavier_normal", "xavier_uniform", "zeros"]
