// SPDX-License-Identifier: MIT
/*
 * vae_fashion_cpp: examples/vae_fashion.c in C++17 over the C API, call for
 * call (the same nets, options, generator draws and library calls in the
 * same order), with every handle held by a std::unique_ptr. For the same
 * flags its --samples-out file is byte-identical to the C example's.
 *
 *   vae_fashion_cpp [--seed N] [--epochs N] [--data DIR] [--out DIR]
 *                   [--train-limit N] [--samples-out FILE]   (--help: defaults)
 *
 * Encoder 784-400 ReLU, 400-40 (mu, logvar); decoder 20-400 ReLU, 400-784
 * logits; Bernoulli likelihood; Adam lr 1e-3; batch 128.
 */
#include <genmodel/genmodel.h>

#include "../example_args.h" // the C examples' option parser and --help

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---- handles: one unique_ptr alias per C type, freed by its gm_X_free ------

template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T *p) const noexcept { Free(p); }
};
template <typename T, auto Free>
using Handle = std::unique_ptr<T, Deleter<Free>>;

using Tensor = Handle<gm_tensor, gm_tensor_free>;
using Layer = Handle<gm_layer, gm_layer_free>;
using Net = Handle<gm_net, gm_net_free>;
using Rng = Handle<gm_rng, gm_rng_free>;
using Vae = Handle<gm_vae, gm_vae_free>;

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check(gm_status st)
{
    if (st != GM_OK)
        throw Error(std::string(gm_status_string(st)) + ": " + gm_last_error());
}

/* Runs gm_X_create(&out, args...) and returns the owned object. */
template <typename H, typename Create, typename... Args>
H make(Create create, Args... args)
{
    typename H::pointer p = nullptr;
    check(create(&p, args...));
    return H(p);
}

Tensor tensor(std::initializer_list<size_t> shape)
{
    return make<Tensor>(gm_tensor_create, shape.size(), shape.begin());
}

/* gm_net_add takes the layer only on success; on failure it stays ours. */
void add(gm_net *net, Layer layer)
{
    check(gm_net_add(net, layer.get()));
    layer.release();
}

constexpr size_t D = 784, H = 400, L = 20, B = 128;

double now()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Net mlp(size_t in, size_t hidden, size_t out, gm_rng *rng)
{
    auto net = make<Net>(gm_net_create);
    add(net.get(), make<Layer>(gm_dense_create, in, hidden, GM_INIT_TORCH, rng));
    add(net.get(), make<Layer>(gm_relu_create));
    add(net.get(), make<Layer>(gm_dense_create, hidden, out, GM_INIT_TORCH, rng));
    return net;
}

/* A [n x 1 x 28 x 28] tensor holding images idx[0..n) of src. */
Tensor pick(const gm_tensor *src, const size_t *idx, size_t n)
{
    Tensor t = tensor({n, 1, 28, 28});
    for (size_t i = 0; i < n; i++)
        std::memcpy(gm_tensor_data(t.get()) + i * D, gm_tensor_data_const(src) + idx[i] * D,
                    D * sizeof(float));
    return t;
}

/* Mean negative ELBO over the test set, in batches of 1000. */
double test_nelbo(gm_vae *vae, const gm_tensor *test)
{
    const size_t n = gm_tensor_dim(test, 0), bs = 1000;
    Tensor x = tensor({bs, D});
    double sum = 0;
    size_t seen = 0;
    for (size_t s = 0; s + bs <= n; s += bs) {
        gm_vae_stats st;
        check(gm_tensor_copy_in(x.get(), gm_tensor_data_const(test) + s * D, bs * D));
        check(gm_vae_elbo(vae, x.get(), nullptr, &st));
        sum += st.loss * (double)bs;
        seen += bs;
    }
    return sum / (double)seen;
}

void write_png(const std::string &dir, const char *name, const gm_tensor *grid, size_t rows,
               size_t cols)
{
    std::string path = dir + "/" + name;
    check(gm_png_write_grid(path.c_str(), grid, rows, cols, 2, 1.0f));
    std::printf("wrote %s\n", path.c_str());
}

void write_raw(const char *path, const gm_tensor *t)
{
    std::unique_ptr<std::FILE, int (*)(std::FILE *)> f(std::fopen(path, "wb"), std::fclose);
    size_t n = gm_tensor_numel(t);
    if (!f || std::fwrite(gm_tensor_data_const(t), sizeof(float), n, f.get()) != n ||
        std::fclose(f.release()) != 0)
        throw Error(std::string("cannot write ") + path);
    std::printf("wrote %s\n", path);
}

/* Copies images [first, first + n) of src into dst at image offset `at`. */
void copy_images(gm_tensor *dst, size_t at, const gm_tensor *src, size_t first, size_t n)
{
    std::memcpy(gm_tensor_data(dst) + at * D, gm_tensor_data_const(src) + first * D,
                n * D * sizeof(float));
}

struct Args {
    unsigned long long seed = 1;
    int epochs = 10;
    size_t train_limit = 0;
    std::string data = "/usr/share/datasets/fashion-mnist", out = "out";
    const char *raw = nullptr;
};

int run(const Args &a)
{
    auto train = make<Tensor>(gm_idx_load_images, (a.data + "/train-images-idx3-ubyte.gz").c_str(),
                              a.train_limit);
    auto test = make<Tensor>(gm_idx_load_images, (a.data + "/t10k-images-idx3-ubyte.gz").c_str(),
                             size_t{0});
    const size_t n_train = gm_tensor_dim(train.get(), 0), steps = n_train / B;
    std::printf("libgenmodel %s: VAE on Fashion-MNIST (%zu train, %zu test images), seed %llu, "
                "%d BLAS threads\n",
                gm_version(), n_train, gm_tensor_dim(test.get(), 0), a.seed, gm_get_num_threads());

    auto rng = make<Rng>(gm_rng_create, a.seed);
    Net enc = mlp(D, H, 2 * L, rng.get()), dec = mlp(L, H, D, rng.get());
    gm_vae_options o;
    check(gm_vae_options_init(&o));
    o.latent = L;
    o.seed = a.seed;
    Vae vae = make<Vae>(gm_vae_create, enc.get(), dec.get(), &o);
    enc.release(); /* the VAE owns enc and dec now (on failure they stay ours) */
    dec.release();

    Tensor x = tensor({B, D});
    std::vector<size_t> order(n_train);
    std::vector<float> u(n_train);
    for (size_t i = 0; i < n_train; i++) order[i] = i;
    double nelbo = 0, train_loss = 0, total_secs = 0;
    for (int e = 1; e <= a.epochs; e++) {
        check(gm_rng_uniform(rng.get(), u.data(), n_train));
        for (size_t i = n_train - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)(u[i] * (float)(i + 1));
            if (j > i) j = i;
            std::swap(order[i], order[j]);
        }
        double t0 = now(), sum = 0;
        for (size_t s = 0; s < steps; s++) {
            for (size_t i = 0; i < B; i++) copy_images(x.get(), i, train.get(), order[s * B + i], 1);
            gm_vae_stats st;
            check(gm_vae_train_step(vae.get(), x.get(), nullptr, &st));
            sum += st.loss;
        }
        double secs = now() - t0;
        total_secs += secs;
        train_loss = sum / (double)steps;
        nelbo = test_nelbo(vae.get(), test.get());
        std::printf("epoch %2d  train loss %.2f  test -ELBO %.2f nats/image  %.1f s  %.0f steps/s\n",
                    e, train_loss, nelbo, secs, steps / secs);
        std::fflush(stdout);
    }

    /* IWAE estimate of -log p(x) on 1000 test images, K = 50 */
    Tensor t1000 = tensor({1000, D});
    check(gm_tensor_copy_in(t1000.get(), gm_tensor_data_const(test.get()), 1000 * D));
    float iwae;
    check(gm_vae_iwae(vae.get(), t1000.get(), nullptr, 50, &iwae));

    std::error_code ec;
    std::filesystem::create_directory(a.out, ec);
    if (ec) throw Error("cannot create " + a.out + ": " + ec.message());

    /* 64 samples */
    Tensor samples = tensor({64, 1, 28, 28});
    check(gm_vae_sample(vae.get(), 64, nullptr, samples.get()));
    write_png(a.out, "samples.png", samples.get(), 8, 8);
    if (a.raw) write_raw(a.raw, samples.get());

    /* reconstructions: rows of 8 originals over their reconstructions */
    size_t idx[32];
    for (size_t i = 0; i < 32; i++) idx[i] = i * 37;
    Tensor orig = pick(test.get(), idx, 32), rec = tensor({32, 1, 28, 28});
    check(gm_vae_reconstruct(vae.get(), orig.get(), nullptr, rec.get()));
    Tensor grid = tensor({64, 1, 28, 28});
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 8; c++) {
            copy_images(grid.get(), (2 * r) * 8 + c, orig.get(), r * 8 + c, 1);
            copy_images(grid.get(), (2 * r + 1) * 8 + c, rec.get(), r * 8 + c, 1);
        }
    write_png(a.out, "reconstructions.png", grid.get(), 8, 8);

    /* interpolation: 6 pairs of test images, 10 steps each */
    Tensor line = tensor({10, 1, 28, 28}), interp = tensor({60, 1, 28, 28});
    for (size_t p = 0; p < 6; p++) {
        size_t ia = p * 101 + 3, ib = p * 211 + 50;
        Tensor xa = pick(test.get(), &ia, 1), xb = pick(test.get(), &ib, 1);
        check(gm_vae_interpolate(vae.get(), xa.get(), xb.get(), nullptr, line.get()));
        copy_images(interp.get(), p * 10, line.get(), 0, 10);
    }
    write_png(a.out, "interpolation.png", interp.get(), 6, 10);

    /* inpainting: 8 images with the bottom half, 8 with the centre missing;
     * rows: originals, damaged (missing shown grey), repaired */
    Tensor truth = pick(test.get(), idx, 16), mask = tensor({16, 1, 28, 28}),
           damaged = tensor({16, 1, 28, 28}), repaired = tensor({16, 1, 28, 28});
    float *m = gm_tensor_data(mask.get());
    const float *tr = gm_tensor_data_const(truth.get());
    for (size_t i = 0; i < 16; i++)
        for (size_t r = 0; r < 28; r++)
            for (size_t c = 0; c < 28; c++) {
                bool missing = i < 8 ? r >= 14 : (r >= 7 && r < 21 && c >= 7 && c < 21);
                m[i * D + r * 28 + c] = missing ? 0.0f : 1.0f;
            }
    for (size_t k = 0; k < 16 * D; k++)
        gm_tensor_data(damaged.get())[k] = m[k] != 0.0f ? tr[k] : 0.5f;
    check(gm_vae_inpaint(vae.get(), truth.get(), mask.get(), 100, repaired.get()));
    double err_model = 0, err_mean = 0;
    size_t n_missing = 0;
    {
        /* compare with filling the missing pixels by the mean training image */
        std::vector<float> mean_img(D, 0.0f);
        const float *trd = gm_tensor_data_const(train.get());
        for (size_t i = 0; i < n_train; i++)
            for (size_t k = 0; k < D; k++) mean_img[k] += trd[i * D + k];
        for (size_t k = 0; k < D; k++) mean_img[k] /= (float)n_train;
        const float *rep = gm_tensor_data_const(repaired.get());
        for (size_t k = 0; k < 16 * D; k++)
            if (m[k] == 0.0f) {
                double t = tr[k];
                err_model += (rep[k] - t) * (rep[k] - t);
                err_mean += (mean_img[k % D] - t) * (mean_img[k % D] - t);
                n_missing++;
            }
    }
    Tensor ip = tensor({48, 1, 28, 28});
    copy_images(ip.get(), 0, truth.get(), 0, 16);
    copy_images(ip.get(), 16, damaged.get(), 0, 16);
    copy_images(ip.get(), 32, repaired.get(), 0, 16);
    write_png(a.out, "inpainting.png", ip.get(), 6, 8);

    std::printf("epochs=%d seed=%llu train_loss=%.3f test_nelbo=%.3f test_iwae50_nll=%.3f "
                "inpaint_mse=%.5f meanfill_mse=%.5f train_seconds=%.1f steps_per_second=%.1f\n",
                a.epochs, a.seed, train_loss, nelbo, iwae, err_model / (double)n_missing,
                err_mean / (double)n_missing, total_secs, a.epochs * steps / total_secs);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    Args a;
    const char *data = a.data.c_str(), *out = a.out.c_str();
    ex_option opts[] = {
        EX_U64("--seed", &a.seed, "seed of the initial weights, the shuffles and the VAE's noise"),
        EX_INT("--epochs", &a.epochs, 1, 100000, "passes over the training images"),
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_STR("--out", &out, "DIR", "folder for the pictures"),
        EX_SIZE("--train-limit", &a.train_limit, 0, 60000, "train on the first N images; 0: all"),
        EX_STR("--samples-out", &a.raw, "FILE", "write the 64 final samples as raw float32"),
    };
    ex_parse(argc, argv, "vae_fashion_cpp",
             "examples/vae_fashion.c in C++17 over the C API, call for call: trains the\n"
             "reference VAE on Fashion-MNIST and writes the same pictures; for the same flags\n"
             "its samples are byte-identical to the C example's.",
             opts, EX_COUNT(opts));
    if (data != a.data.c_str()) a.data = data; // given on the command line
    if (out != a.out.c_str()) a.out = out;
    try {
        return run(a);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "vae_fashion_cpp: %s\n", e.what());
        return 1;
    }
}
