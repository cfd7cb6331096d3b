# SPDX-License-Identifier: MIT
"""Low-level layer: loads libgenmodel and declares every GM_API function.

``lib`` is the ctypes.CDLL with argtypes/restype set for each function of
the table ``API`` below; functions returning gm_status raise
genmodel.Error subclasses through one errcheck. Adding a C function to the
binding is one line in ``API``.

Library search order (the first that loads wins):
  1. $GENMODEL_LIBRARY, a file path (if set, it must load: nothing else is
     tried, so a wrong path is not silently replaced by another library);
  2. libgenmodel.so in $GENMODEL_BUILD_DIR, if set;
  3. the library `cmake --install` put next to this package
     (-DGM_INSTALL_PYTHON=ON): its absolute path is recorded in
     genmodel/_config.py at install time;
  4. libgenmodel.so in the source tree's build directory (../../build
     relative to lib/python), only when the package is imported from a
     source tree's lib/python;
  5. libgenmodel.so.1 in the libdir of the genmodel pkg-config module
     (`pkg-config --variable=libdir genmodel`, so PKG_CONFIG_PATH counts):
     how a `pip install`ed package finds a library installed under any
     prefix;
  6. the system loader: ctypes.util.find_library("genmodel"), then the
     soname libgenmodel.so.1 through the dynamic loader's own search
     (LD_LIBRARY_PATH, the ld.so cache, the default directories).
"""
import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int,
                    c_int32, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)
from pathlib import Path

from . import _config
from .errors import LibraryNotFound, error_for

ABI_MAJOR = 1
MAX_DIMS = 4


# ---- opaque handles -------------------------------------------------------

class gm_rng(Structure): pass
class gm_tensor(Structure): pass
class gm_layer(Structure): pass
class gm_net(Structure): pass
class gm_optimizer(Structure): pass
class gm_vae(Structure): pass
class gm_gan(Structure): pass
class gm_image_set(Structure): pass


# ---- structs, field for field as in the headers ----------------------------

class _Struct(Structure):
    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name, _ in self._fields_)
        return f"{type(self).__name__}({fields})"

    def _asdict(self):
        return {name: getattr(self, name) for name, _ in self._fields_}


class gm_allocator(_Struct):
    _fields_ = [("malloc_fn", CFUNCTYPE(c_void_p, c_void_p, c_size_t)),
                ("realloc_fn", CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t)),
                ("free_fn", CFUNCTYPE(None, c_void_p, c_void_p)),
                ("user", c_void_p)]


class gm_optimizer_options(_Struct):
    """Fill with gm_optimizer_options_init (sets ``size``)."""
    _fields_ = [("size", c_size_t), ("kind", c_int32), ("lr", c_float),
                ("momentum", c_float), ("nesterov", c_int32), ("beta1", c_float),
                ("beta2", c_float), ("eps", c_float), ("weight_decay", c_float),
                ("clip_norm", c_float)]


class gm_vae_options(_Struct):
    _fields_ = [("size", c_size_t), ("latent", c_size_t), ("likelihood", c_int32),
                ("gaussian_logvar", c_float), ("beta", c_float),
                ("kl_warmup_steps", c_uint64),
                ("optimizer", POINTER(gm_optimizer_options)), ("seed", c_uint64),
                ("num_classes", c_size_t)]


class gm_gan_options(_Struct):
    _fields_ = [("size", c_size_t), ("latent", c_size_t), ("loss", c_int32),
                ("n_critic", c_uint32), ("real_label", c_float), ("weight_clip", c_float),
                ("g_optimizer", POINTER(gm_optimizer_options)),
                ("d_optimizer", POINTER(gm_optimizer_options)), ("seed", c_uint64),
                ("num_classes", c_size_t), ("ema_decay", c_float),
                # 1.2: the gradient penalty
                ("penalty", c_int32), ("penalty_weight", c_float), ("penalty_every", c_uint32)]


class gm_vae_stats(_Struct):
    _fields_ = [("loss", c_float), ("recon", c_float), ("kl", c_float), ("beta", c_float)]


class gm_gan_stats(_Struct):
    _fields_ = [("d_loss", c_float), ("g_loss", c_float), ("d_real", c_float),
                ("d_fake", c_float), ("penalty", c_float)]  # penalty: 1.2, the sized calls


class gm_fit_options(_Struct):
    """Fill with gm_fit_options_init (sets ``size``)."""
    _fields_ = [("size", c_size_t), ("epochs", c_uint32), ("batch", c_size_t),
                ("every", c_uint64), ("shuffle_seed", c_uint64)]


class gm_fit_progress(_Struct):
    _fields_ = [("epoch", c_uint32), ("epochs", c_uint32), ("epoch_step", c_uint64),
                ("steps_per_epoch", c_uint64), ("step", c_uint64),
                ("steps_averaged", c_uint64), ("seconds", c_double)]


# eval.h
class gm_eval_nearest_stats(_Struct):
    _fields_ = [("mean", c_double), ("min", c_double), ("q05", c_double), ("median", c_double),
                ("max", c_double)]


class gm_eval_options(_Struct):
    """Fill with gm_eval_options_init (sets ``size``)."""
    _fields_ = [("size", c_size_t), ("k", c_size_t), ("batch", c_size_t),
                ("nearest_max", c_size_t), ("iwae_k", c_size_t), ("iwae_max", c_size_t)]


class gm_eval_report(_Struct):
    """Set ``size`` to sizeof(gm_eval_report) before gm_eval_images."""
    _fields_ = [("size", c_size_t), ("n_samples", c_size_t), ("n_real", c_size_t),
                ("feature_dim", c_size_t), ("frechet", c_double), ("precision", c_double),
                ("recall", c_double), ("n_nearest", c_size_t),
                ("nearest", gm_eval_nearest_stats), ("iwae_nll", c_double),
                ("density", c_double), ("coverage", c_double)]


class gm_image_folder_options(_Struct):
    """Fill with gm_image_folder_options_init (sets ``size``)."""
    _fields_ = [("size", c_size_t), ("side", c_size_t), ("channels", c_uint32),
                ("background", c_uint32), ("labels", c_uint32), ("skip_bad", c_uint32),
                ("max_pixels", c_uint64), ("threads", c_uint32), ("max_files", c_size_t)]


# ---- callback types -----------------------------------------------------------

# int (*)(void *user, const gm_fit_progress *progress, const gm_X_stats *mean)
gm_vae_fit_callback = CFUNCTYPE(c_int, c_void_p, POINTER(gm_fit_progress),
                                POINTER(gm_vae_stats))
gm_gan_fit_callback = CFUNCTYPE(c_int, c_void_p, POINTER(gm_fit_progress),
                                POINTER(gm_gan_stats))
# the sized forms (1.2): int (*)(void *user, const gm_fit_progress *progress,
# size_t progress_size, const gm_X_stats *mean, size_t mean_size)
gm_vae_fit_sized_callback = CFUNCTYPE(c_int, c_void_p, POINTER(gm_fit_progress), c_size_t,
                                      POINTER(gm_vae_stats), c_size_t)
gm_gan_fit_sized_callback = CFUNCTYPE(c_int, c_void_p, POINTER(gm_fit_progress), c_size_t,
                                      POINTER(gm_gan_stats), c_size_t)
# int (*)(void *user, size_t done, size_t total)
gm_image_progress_fn = CFUNCTYPE(c_int, c_void_p, c_size_t, c_size_t)


# ---- the function table ---------------------------------------------------

STATUS = "gm_status"  # restype marker: c_int, checked by _check_status
P = POINTER
sz, f32, i32, u64, enum, cstr = c_size_t, c_float, c_int32, c_uint64, c_int, c_char_p
RNG, TEN, LAY, NET, OPT, VAE, GAN = (P(t) for t in (
    gm_rng, gm_tensor, gm_layer, gm_net, gm_optimizer, gm_vae, gm_gan))
PF, PSZ, PI32 = P(c_float), P(c_size_t), P(c_int32)

# name, restype, argtypes...
API = [
    # core.h
    ("gm_status_string", cstr, enum),
    ("gm_last_error", cstr),
    ("gm_clear_error", None),
    ("gm_version", cstr),
    ("gm_version_number", c_uint32),
    ("gm_set_num_threads", STATUS, c_int),
    ("gm_get_num_threads", c_int),
    ("gm_set_allocator", STATUS, P(gm_allocator)),
    ("gm_live_allocations", sz),
    ("gm_rng_create", STATUS, P(RNG), u64),
    ("gm_rng_free", None, RNG),
    ("gm_rng_seed", STATUS, RNG, u64),
    ("gm_rng_uniform", STATUS, RNG, PF, sz),
    ("gm_rng_normal", STATUS, RNG, PF, sz),
    ("gm_rng_truncated_normal", STATUS, RNG, PF, sz, c_float),
    ("gm_rng_get_state", STATUS, RNG, P(u64), P(u64)),
    ("gm_rng_set_state", STATUS, RNG, u64, u64),
    # tensor.h
    ("gm_tensor_create", STATUS, P(TEN), sz, PSZ),
    ("gm_tensor_from_data", STATUS, P(TEN), sz, PSZ, PF),
    ("gm_tensor_wrap", STATUS, P(TEN), sz, PSZ, PF),
    ("gm_tensor_free", None, TEN),
    ("gm_tensor_ndim", sz, TEN),
    ("gm_tensor_dim", sz, TEN, sz),
    ("gm_tensor_numel", sz, TEN),
    ("gm_tensor_shape", STATUS, TEN, PSZ, PSZ),
    ("gm_tensor_data", PF, TEN),
    ("gm_tensor_data_const", PF, TEN),
    ("gm_tensor_copy_out", STATUS, TEN, PF, sz),
    ("gm_tensor_copy_in", STATUS, TEN, PF, sz),
    ("gm_tensor_fill", STATUS, TEN, f32),
    ("gm_tensor_fill_normal", STATUS, TEN, RNG),
    ("gm_tensor_fill_uniform", STATUS, TEN, RNG),
    ("gm_tensor_reshape", STATUS, TEN, sz, PSZ),
    # layer.h
    ("gm_dense_create", STATUS, P(LAY), sz, sz, enum, RNG),
    ("gm_relu_create", STATUS, P(LAY)),
    ("gm_leaky_relu_create", STATUS, P(LAY), f32),
    ("gm_sigmoid_create", STATUS, P(LAY)),
    ("gm_tanh_create", STATUS, P(LAY)),
    ("gm_softplus_create", STATUS, P(LAY)),
    ("gm_elu_create", STATUS, P(LAY), f32),
    ("gm_dropout_create", STATUS, P(LAY), f32, u64),
    ("gm_reshape_create", STATUS, P(LAY), sz, PSZ),
    ("gm_flatten_create", STATUS, P(LAY)),
    ("gm_conv2d_create", STATUS, P(LAY), sz, sz, sz, sz, sz, enum, RNG),
    ("gm_conv_transpose2d_create", STATUS, P(LAY), sz, sz, sz, sz, sz, enum, RNG),
    ("gm_batchnorm_create", STATUS, P(LAY), sz, f32, f32),
    ("gm_layer_spectral_norm", STATUS, LAY, sz, f32, RNG),
    ("gm_layer_spectral_norm_iterations", sz, LAY),
    ("gm_layer_spectral_sigma", f32, LAY),
    ("gm_layer_free", None, LAY),
    ("gm_layer_get_kind", enum, LAY),
    ("gm_layer_name", cstr, LAY),
    ("gm_layer_param_count", sz, LAY),
    ("gm_layer_get_params", STATUS, LAY, PF, sz),
    ("gm_layer_set_params", STATUS, LAY, PF, sz),
    ("gm_layer_get_grads", STATUS, LAY, PF, sz),
    ("gm_layer_batchnorm_features", sz, LAY),
    ("gm_layer_get_running_mean", STATUS, LAY, PF, sz),
    ("gm_layer_get_running_var", STATUS, LAY, PF, sz),
    ("gm_layer_spectral_u_count", sz, LAY),
    ("gm_layer_spectral_v_count", sz, LAY),
    ("gm_layer_get_spectral_u", STATUS, LAY, PF, sz),
    ("gm_layer_get_spectral_v", STATUS, LAY, PF, sz),
    # net.h
    ("gm_net_create", STATUS, P(NET)),
    ("gm_net_free", None, NET),
    ("gm_net_add", STATUS, NET, LAY),
    ("gm_net_num_layers", sz, NET),
    ("gm_net_layer", LAY, NET, sz),
    ("gm_net_output_shape", STATUS, NET, sz, PSZ, PSZ, PSZ),
    ("gm_net_forward", STATUS, NET, TEN, TEN),
    ("gm_net_backward", STATUS, NET, TEN, TEN),
    ("gm_net_zero_grad", STATUS, NET),
    ("gm_net_set_training", STATUS, NET, c_int),
    ("gm_net_is_training", c_int, NET),
    ("gm_net_set_trainable", STATUS, NET, sz, c_int),
    ("gm_net_param_count", sz, NET),
    ("gm_net_get_params", STATUS, NET, PF, sz),
    ("gm_net_set_params", STATUS, NET, PF, sz),
    ("gm_net_get_grads", STATUS, NET, PF, sz),
    ("gm_net_set_grads", STATUS, NET, PF, sz),
    ("gm_net_grad_norm", STATUS, NET, PF),
    ("gm_net_clip_grad_norm", STATUS, NET, f32, PF),
    # penalty.h
    ("gm_net_penalty_r1", STATUS, NET, TEN, f32, PF),
    ("gm_net_penalty_gp", STATUS, NET, TEN, TEN, f32, RNG, PF),
    # loss.h
    ("gm_loss_mse", STATUS, TEN, TEN, enum, PF, TEN),
    ("gm_loss_bce_logits", STATUS, TEN, TEN, enum, PF, TEN),
    ("gm_loss_softmax_xent", STATUS, TEN, PI32, sz, enum, PF, TEN, PSZ),
    # optim.h
    ("gm_optimizer_options_init", STATUS, P(gm_optimizer_options), enum),
    ("gm_optimizer_create", STATUS, P(OPT), NET, P(gm_optimizer_options)),
    ("gm_optimizer_free", None, OPT),
    ("gm_optimizer_step", STATUS, OPT, NET),
    ("gm_optimizer_set_lr", STATUS, OPT, f32),
    ("gm_optimizer_get_lr", f32, OPT),
    ("gm_optimizer_step_count", u64, OPT),
    ("gm_optimizer_reset", STATUS, OPT),
    ("gm_fit_options_init", STATUS, P(gm_fit_options)),
    # vae.h
    ("gm_vae_reparameterize", STATUS, TEN, TEN, TEN),
    ("gm_vae_reparameterize_backward", STATUS, TEN, TEN, TEN, TEN),
    ("gm_vae_kl", STATUS, TEN, PF, PF, TEN, f32),
    ("gm_vae_recon_nll", STATUS, enum, TEN, TEN, f32, PF, PF, TEN),
    ("gm_vae_log_normal", STATUS, TEN, TEN, PF),
    ("gm_vae_logmeanexp", STATUS, TEN, PF, PF, TEN),
    ("gm_elbo_reparameterize", STATUS, TEN, TEN, TEN),
    ("gm_elbo_reparameterize_backward", STATUS, TEN, TEN, TEN, TEN),
    ("gm_elbo_kl", STATUS, TEN, PF, PF, TEN, f32),
    ("gm_elbo_recon_nll", STATUS, enum, TEN, TEN, f32, PF, PF, TEN),
    ("gm_elbo_log_normal", STATUS, TEN, TEN, PF),
    ("gm_elbo_logmeanexp", STATUS, TEN, PF, PF, TEN),
    ("gm_vae_options_init", STATUS, P(gm_vae_options)),
    ("gm_vae_create", STATUS, P(VAE), NET, NET, P(gm_vae_options)),
    ("gm_vae_free", None, VAE),
    ("gm_vae_train_step", STATUS, VAE, TEN, PI32, P(gm_vae_stats)),
    ("gm_vae_fit", STATUS, VAE, TEN, PI32, P(gm_fit_options), gm_vae_fit_callback, c_void_p),
    ("gm_vae_compute_grads", STATUS, VAE, TEN, PI32, sz, sz, P(gm_vae_stats)),
    ("gm_vae_grads", STATUS, VAE, P(PF), PSZ),
    ("gm_vae_apply_grads", STATUS, VAE),
    ("gm_vae_elbo", STATUS, VAE, TEN, PI32, P(gm_vae_stats)),
    ("gm_vae_iwae", STATUS, VAE, TEN, PI32, sz, PF),
    ("gm_vae_encode", STATUS, VAE, TEN, PI32, TEN, TEN),
    ("gm_vae_decode", STATUS, VAE, TEN, PI32, TEN),
    ("gm_vae_reconstruct", STATUS, VAE, TEN, PI32, TEN),
    ("gm_vae_sample", STATUS, VAE, sz, PI32, TEN),
    ("gm_vae_interpolate", STATUS, VAE, TEN, TEN, PI32, TEN),
    ("gm_vae_inpaint", STATUS, VAE, TEN, TEN, sz, TEN),
    ("gm_vae_encoder", NET, VAE),
    ("gm_vae_decoder", NET, VAE),
    ("gm_vae_step_count", u64, VAE),
    ("gm_vae_set_lr", STATUS, VAE, f32),
    ("gm_vae_get_options", STATUS, VAE, P(gm_vae_options)),
    ("gm_vae_train_step_sized", STATUS, VAE, TEN, PI32, P(gm_vae_stats), sz),
    ("gm_vae_compute_grads_sized", STATUS, VAE, TEN, PI32, sz, sz, P(gm_vae_stats), sz),
    ("gm_vae_elbo_sized", STATUS, VAE, TEN, PI32, P(gm_vae_stats), sz),
    ("gm_vae_fit_sized", STATUS, VAE, TEN, PI32, P(gm_fit_options), gm_vae_fit_sized_callback,
     c_void_p),
    # gan.h
    ("gm_gan_d_loss", STATUS, enum, TEN, TEN, f32, PF, TEN, TEN),
    ("gm_gan_g_loss", STATUS, enum, TEN, PF, TEN),
    ("gm_loss_gan_d", STATUS, enum, TEN, TEN, f32, PF, TEN, TEN),
    ("gm_loss_gan_g", STATUS, enum, TEN, PF, TEN),
    ("gm_gan_options_init", STATUS, P(gm_gan_options)),
    ("gm_gan_create", STATUS, P(GAN), NET, NET, P(gm_gan_options)),
    ("gm_gan_free", None, GAN),
    ("gm_gan_train_step", STATUS, GAN, TEN, PI32, P(gm_gan_stats)),
    ("gm_gan_fit", STATUS, GAN, TEN, PI32, P(gm_fit_options), gm_gan_fit_callback, c_void_p),
    ("gm_gan_compute_grads", STATUS, GAN, enum, TEN, PI32, sz, sz, P(gm_gan_stats)),
    ("gm_gan_grads", STATUS, GAN, enum, P(PF), PSZ),
    ("gm_gan_apply_grads", STATUS, GAN, enum),
    ("gm_gan_sample", STATUS, GAN, sz, PI32, TEN),
    ("gm_gan_generate", STATUS, GAN, TEN, PI32, TEN),
    ("gm_gan_generator", NET, GAN),
    ("gm_gan_discriminator", NET, GAN),
    ("gm_gan_step_count", u64, GAN),
    ("gm_gan_set_lr", STATUS, GAN, enum, f32),
    ("gm_gan_get_options", STATUS, GAN, P(gm_gan_options)),
    ("gm_gan_use_ema", STATUS, GAN, c_int),
    ("gm_gan_set_truncation", STATUS, GAN, c_float),
    ("gm_gan_ema_params", STATUS, GAN, PF, sz),
    ("gm_gan_train_step_sized", STATUS, GAN, TEN, PI32, P(gm_gan_stats), sz),
    ("gm_gan_compute_grads_sized", STATUS, GAN, enum, TEN, PI32, sz, sz, P(gm_gan_stats), sz),
    ("gm_gan_fit_sized", STATUS, GAN, TEN, PI32, P(gm_fit_options), gm_gan_fit_sized_callback,
     c_void_p),
    # io.h
    ("gm_idx_load_images", STATUS, P(TEN), cstr, sz),
    ("gm_idx_load_labels", STATUS, cstr, sz, PI32, sz, PSZ),
    ("gm_png_write_grid", STATUS, cstr, TEN, sz, sz, sz, f32),
    ("gm_net_save", STATUS, NET, cstr),
    ("gm_net_load", STATUS, P(NET), cstr),
    ("gm_vae_save", STATUS, VAE, cstr),
    ("gm_vae_load", STATUS, P(VAE), cstr),
    ("gm_gan_save", STATUS, GAN, cstr),
    ("gm_gan_load", STATUS, P(GAN), cstr),
    ("gm_image_folder_options_init", STATUS, P(gm_image_folder_options)),
    ("gm_image_folder_load", STATUS, P(P(gm_image_set)), cstr, P(gm_image_folder_options),
     gm_image_progress_fn, c_void_p),
    ("gm_image_set_free", None, P(gm_image_set)),
    ("gm_image_set_count", sz, P(gm_image_set)),
    ("gm_image_set_channels", sz, P(gm_image_set)),
    ("gm_image_set_side", sz, P(gm_image_set)),
    ("gm_image_set_skipped", sz, P(gm_image_set)),
    ("gm_image_set_data", P(c_uint8), P(gm_image_set)),
    ("gm_image_set_labels", PI32, P(gm_image_set)),
    ("gm_image_set_name", cstr, P(gm_image_set), sz),
    ("gm_image_set_num_classes", sz, P(gm_image_set)),
    ("gm_image_set_class_name", cstr, P(gm_image_set), sz),
    ("gm_image_set_batch", STATUS, P(gm_image_set), PSZ, sz, enum, RNG, TEN),
    # eval.h
    ("gm_eval_features", STATUS, NET, TEN, sz, TEN),
    ("gm_eval_frechet", STATUS, TEN, TEN, P(c_double)),
    ("gm_eval_precision_recall", STATUS, TEN, TEN, sz, P(c_double), P(c_double)),
    ("gm_eval_density_coverage", STATUS, TEN, TEN, sz, P(c_double), P(c_double)),
    ("gm_eval_nearest", STATUS, TEN, TEN, P(gm_eval_nearest_stats), TEN),
    ("gm_eval_options_init", STATUS, P(gm_eval_options)),
    ("gm_eval_images", STATUS, P(gm_eval_report), NET, TEN, TEN, TEN, VAE, P(gm_eval_options)),
    # interp.h
    ("gm_interp_vae_dims", STATUS, VAE, TEN, PI32, sz, c_double, P(c_double), P(c_double), sz, PSZ),
    ("gm_interp_order_desc", STATUS, P(c_double), sz, PSZ),
    ("gm_interp_format_table", STATUS, P(c_double), P(c_double), sz, c_double, c_char_p, sz, PSZ),
    ("gm_interp_bar_chart_png", STATUS, cstr, P(c_double), sz, P(c_double), c_double, sz, sz),
    ("gm_interp_vae_traverse", STATUS, VAE, TEN, PF, PI32, PSZ, sz, f32, sz, TEN),
    ("gm_interp_gan_traverse", STATUS, GAN, PF, PI32, PSZ, sz, f32, sz, TEN),
    ("gm_interp_gan_effect", STATUS, GAN, TEN, PI32, f32, sz, P(c_double), sz),
    ("gm_interp_vae_classes", STATUS, VAE, PF, TEN),
    ("gm_interp_gan_classes", STATUS, GAN, PF, TEN),
    ("gm_shapes_factor_sizes", STATUS, sz, PSZ, P(c_uint64)),
    ("gm_shapes_index_to_factors", STATUS, sz, P(c_uint64), sz, PI32),
    ("gm_shapes_factors_to_index", STATUS, sz, PI32, sz, P(c_uint64)),
    ("gm_shapes_sample", STATUS, sz, u64, sz, PI32, P(c_uint64)),
    ("gm_shapes_render", STATUS, sz, PI32, sz, TEN),
    ("gm_interp_mig", STATUS, PF, sz, sz, PI32, sz, sz, P(c_double), P(c_double), P(c_double)),
]


# ---- loading ----------------------------------------------------------------

SONAME = f"libgenmodel.so.{ABI_MAJOR}"
NOTHING = "(nothing found)"


def _tree_build():
    """build/libgenmodel.so of the source tree this package is imported
    from, or None when it is not lib/python/genmodel of a source tree."""
    pkg = Path(__file__).resolve().parent
    tree = pkg.parents[2]
    if pkg != tree / "lib" / "python" / "genmodel" or \
            not (tree / "include" / "genmodel" / "genmodel.h").is_file():
        return None
    return str(tree / "build" / "libgenmodel.so")


def _pkg_config_libdir():
    """`pkg-config --variable=libdir genmodel`, or None (no pkg-config, no
    genmodel module, or an empty answer)."""
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "genmodel"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = r.stdout.strip()
    return libdir if r.returncode == 0 and libdir else None


_DEFAULT = object()


def _candidates(environ=None, installed=_DEFAULT, tree_build=_DEFAULT, pkg_config=None,
                find_library=None):
    """Yields (description, path-or-name) pairs in search order, lazily:
    pkg-config and find_library only run when the places before them did
    not load. The arguments default to this process's state (os.environ,
    _config.LIBRARY, _tree_build(), _pkg_config_libdir,
    ctypes.util.find_library); the tests pass their own (None for "no
    such place")."""
    environ = os.environ if environ is None else environ
    env = environ.get("GENMODEL_LIBRARY")
    if env:
        yield "$GENMODEL_LIBRARY", env
        return
    build = environ.get("GENMODEL_BUILD_DIR")
    if build:
        yield "$GENMODEL_BUILD_DIR", os.path.join(build, "libgenmodel.so")
    installed = _config.LIBRARY if installed is _DEFAULT else installed
    if installed:
        yield "installed by cmake --install (genmodel/_config.py)", installed
    tree = _tree_build() if tree_build is _DEFAULT else tree_build
    if tree:
        yield "source tree build", tree
    libdir = (pkg_config or _pkg_config_libdir)()
    yield ("pkg-config --variable=libdir genmodel",
           os.path.join(libdir, SONAME) if libdir else NOTHING)
    found = (find_library or ctypes.util.find_library)("genmodel")
    yield "ctypes.util.find_library('genmodel')", found or NOTHING
    yield "dynamic loader search", SONAME


def _load():
    tried = []
    for where, path in _candidates():
        if path == NOTHING or (os.sep in path and not os.path.exists(path)):
            tried.append(f"  {where}: {path}: not found")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"  {where}: {path}: {e}")
    raise LibraryNotFound("cannot load libgenmodel; looked in:\n" + "\n".join(tried)
                          + "\nset GENMODEL_LIBRARY to the path of libgenmodel.so, or "
                          "PKG_CONFIG_PATH to the lib/pkgconfig directory of an installed "
                          "libgenmodel")


def _check_status(result, func, args):
    if result != 0:
        msg = lib.gm_last_error().decode("utf-8", "replace")
        if func.__name__ not in msg:
            msg = f"{func.__name__}: {msg}" if msg else func.__name__
        raise error_for(result, msg, func.__name__)
    return result


def _missing(name):
    def stub(*args):
        raise error_for(-9, f"{name}: not in the loaded libgenmodel ({path})", name)
    stub.__name__ = name
    return stub


lib, path = _load()
missing = []  # table functions the loaded (older) library does not export
for name, restype, *argtypes in API:
    try:
        fn = getattr(lib, name)
    except AttributeError:
        missing.append(name)
        setattr(lib, name, _missing(name))
        continue
    fn.argtypes = argtypes
    if restype is STATUS:
        fn.restype, fn.errcheck = c_int, _check_status
    else:
        fn.restype = restype

if lib.gm_version_number() // 10000 != ABI_MAJOR:
    raise LibraryNotFound(f"{path} is libgenmodel {lib.gm_version().decode()}, "
                          f"this binding needs ABI version {ABI_MAJOR}")
