"""A stand-in SadTalker checkout, built in a temp folder, for the adapter's tests.

SadTalker's real checkpoints cannot be downloaded here and its networks are far too big for CPU
tests, so ``build_checkout(root)`` writes a folder shaped like a SadTalker clone: a namespace
package ``src`` (no ``__init__.py``, as upstream) with the module paths, class names and call
signatures that ``pipeline/render/sadtalker.py`` uses — ``src.utils.init_path.init_path``,
``src.utils.preprocess.CropAndExtract``, ``src.test_audio2coeff.Audio2Coeff``,
``src.generate_batch.get_data``, ``src.generate_facerender_batch.get_facerender_data``,
``src.facerender.animate.AnimateFromCoeff`` — backed by tiny randomly initialised torch networks
whose weights are saved in ``checkpoints/`` and ``gfpgan/weights/`` under the file names
SadTalker's download script uses, and loaded from there. None of SadTalker's code is copied: these
are written from its call signatures and documented behaviour only.

Behaviour kept from the real thing because the adapter must cope with it:
- the face detector's weights are read from the *relative* path ``gfpgan/weights`` (so loading
  only works with the checkout as working directory);
- ``CropAndExtract.generate`` returns ``(None, None)`` when it finds no face (here: a blank
  image), and raises a bare string (a ``TypeError``) when the "landmark detector" fails (here:
  when the checkout has a ``standin-fail`` file saying ``landmark``);
- ``AnimateFromCoeff.generate`` writes and then deletes ``<its output folder>/<audio name>.wav``,
  returns a 25 fps MP4 with sound (``<name>_full.mp4`` for preprocess ``full``), and — like the
  demo's ``SadTalker.test`` — moves the image and audio it was given into its output folder;
- ``standin-fail`` saying ``oom`` makes the face renderer raise ``torch.cuda.OutOfMemoryError``.

Every call appends a JSON line to ``<checkout>/calls.jsonl`` with the arguments the test wants to
check (``calls(root)`` reads them back).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import torch
from safetensors.torch import save_file

LOG_HELPER = '''
import json, os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def record(call, **values):
    with open(ROOT / "calls.jsonl", "a") as handle:
        handle.write(json.dumps({"call": call, **values}) + "\\n")


def fail_mode():
    marker = ROOT / "standin-fail"
    return marker.read_text().strip() if marker.exists() else ""
'''

NETS = '''
import torch
from torch import nn


class FaceRecon(nn.Module):  # photo -> 73 coefficients (64 expression, 6 pose, 3 crop)
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.fc = nn.Linear(4, 73)

    def forward(self, image):
        return self.fc(self.conv(image).mean(dim=(2, 3)))


class Audio2ExpNet(nn.Module):  # mel window + reference expression + blink ratio -> 64 expression
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(80 * 16 + 64 + 1, 64)

    def forward(self, mel, ref, ratio):
        return self.fc(torch.cat([mel.flatten(1), ref, ratio], dim=1))


class Audio2PoseNet(nn.Module):  # mel window + pose style -> 6 pose
    def __init__(self):
        super().__init__()
        self.style = nn.Embedding(46, 6)
        self.fc = nn.Linear(80 * 16, 6)

    def forward(self, mel, style):
        return 0.1 * torch.tanh(self.fc(mel.flatten(1)) + self.style(style))


class FaceRenderer(nn.Module):  # source image + 70 coefficients -> frame
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(70, 3)

    def forward(self, image, coeffs):
        return (image * (1 + 0.2 * torch.tanh(self.fc(coeffs)))[:, :, None, None]).clamp(0, 1)


class Mapping(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(70, 70)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3)
'''

INIT_PATH = '''
import os
from src.utils.standin_log import record


def init_path(checkpoint_dir, config_dir, size=512, old_version=False, preprocess='crop'):
    record("init_path", size=size, preprocess=preprocess, old_version=old_version)
    full = 'full' in preprocess
    return {
        "checkpoint": os.path.join(checkpoint_dir, "SadTalker_V0.0.2_%d.safetensors" % size),
        "use_safetensor": True,
        "dir_of_BFM_fitting": config_dir,
        "mappingnet_checkpoint": os.path.join(checkpoint_dir, "mapping_00109-model.pth.tar" if full
                                              else "mapping_00229-model.pth.tar"),
        "facerender_yaml": os.path.join(config_dir, "facerender_still.yaml" if full else "facerender.yaml"),
    }
'''

PREPROCESS = '''
import os
import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from scipy.io import savemat
from src.utils.standin_log import record, fail_mode
from src.utils.standin_nets import Detector, FaceRecon


def _part(weights, prefix):
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


class CropAndExtract():
    def __init__(self, sadtalker_path, device):
        record("CropAndExtract.__init__", device=device, cwd=os.getcwd())
        self.detector = Detector()  # relative path, as SadTalker's KeypointExtractor
        self.detector.load_state_dict(torch.load(os.path.join("gfpgan/weights", "detection_Resnet50_Final.pth"))["state_dict"])
        self.net_recon = FaceRecon().to(device).eval()
        self.net_recon.load_state_dict(_part(load_file(sadtalker_path["checkpoint"]), "face_3drecon."))
        self.device = device

    def generate(self, input_path, save_dir, crop_or_resize='crop', source_image_flag=False, pic_size=256):
        record("CropAndExtract.generate", input_path=input_path, preprocess=crop_or_resize, pic_size=pic_size,
               source_image_flag=source_image_flag)
        if fail_mode() == "landmark":
            raise 'can not detect the landmark from source image'
        image = np.asarray(Image.open(input_path).convert("RGB"))
        if int(image.max()) - int(image.min()) < 8:
            print("No face is detected in the input file")
            return None, None
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        face = Image.fromarray(image[top:top + side, left:left + side]).resize((pic_size, pic_size))
        name = os.path.splitext(os.path.basename(input_path))[0]
        png_path = os.path.join(save_dir, name + ".png")
        coeff_path = os.path.join(save_dir, name + ".mat")
        face.save(png_path)
        tensor = torch.from_numpy(np.asarray(face, np.float32) / 255).permute(2, 0, 1)[None].to(self.device)
        with torch.no_grad():
            coeffs = self.net_recon(tensor).cpu().numpy()
        savemat(coeff_path, {"coeff_3dmm": coeffs})
        return coeff_path, png_path, ((side, side), (left, top, left + side, top + side), (0, 0, side, side))
'''

GENERATE_BATCH = '''
import os
import wave
import numpy as np
import torch
from scipy.io import loadmat
from src.utils.standin_log import record


def get_data(first_coeff_path, audio_path, device, ref_eyeblink_coeff_path, still=False, idlemode=False,
             length_of_audio=False, use_blink=True):
    with wave.open(audio_path, "rb") as handle:
        rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32768
    per_frame = rate / 25
    num_frames = int(len(samples) / per_frame)
    loudness = np.array([np.sqrt(np.mean(samples[int(i * per_frame):int((i + 1) * per_frame)] ** 2) + 1e-12)
                         for i in range(num_frames)], np.float32)
    mels = np.broadcast_to(loudness[:, None, None], (num_frames, 80, 16)).copy()
    ratio = np.zeros((num_frames, 1), np.float32)
    ratio[10:15, 0] = [0.5, 0.9, 1.0, 0.9, 0.5]  # SadTalker makes its own random blinks here
    ref = np.repeat(loadmat(first_coeff_path)["coeff_3dmm"][:1, :70], num_frames, axis=0)
    record("get_data", audio_path=audio_path, still=still, num_frames=num_frames,
           ref_eyeblink_coeff_path=ref_eyeblink_coeff_path, use_blink=use_blink)
    return {"indiv_mels": torch.FloatTensor(mels).unsqueeze(1).unsqueeze(0).to(device),
            "ref": torch.FloatTensor(ref).unsqueeze(0).to(device),
            "num_frames": num_frames,
            "ratio_gt": torch.FloatTensor(ratio).unsqueeze(0).to(device),
            "audio_name": os.path.splitext(os.path.basename(audio_path))[0],
            "pic_name": os.path.splitext(os.path.basename(first_coeff_path))[0]}
'''

AUDIO2COEFF = '''
import os
import torch
from safetensors.torch import load_file
from scipy.io import savemat
from src.utils.standin_log import record
from src.utils.standin_nets import Audio2ExpNet, Audio2PoseNet


def _part(weights, prefix):
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


class Audio2Coeff():
    def __init__(self, sadtalker_path, device):
        record("Audio2Coeff.__init__", device=device)
        weights = load_file(sadtalker_path["checkpoint"])
        self.audio2exp = Audio2ExpNet().to(device).eval()
        self.audio2exp.load_state_dict(_part(weights, "audio2exp."))
        self.audio2pose = Audio2PoseNet().to(device).eval()
        self.audio2pose.load_state_dict(_part(weights, "audio2pose."))
        self.device = device

    def generate(self, batch, coeff_save_dir, pose_style, ref_pose_coeff_path=None):
        ratio = batch["ratio_gt"]
        record("Audio2Coeff.generate", pose_style=pose_style, ref_pose_coeff_path=ref_pose_coeff_path,
               ratio_shape=list(ratio.shape), ratio_gt=[round(float(v), 4) for v in ratio.flatten()])
        mels = batch["indiv_mels"][0, :, 0]
        with torch.no_grad():
            exp = self.audio2exp(mels, batch["ref"][0, :, :64], ratio[0].reshape(-1, 1))
            style = torch.full((mels.shape[0],), int(pose_style), dtype=torch.long, device=self.device)
            pose = self.audio2pose(mels, style)
        path = os.path.join(coeff_save_dir, "%s##%s.mat" % (batch["pic_name"], batch["audio_name"]))
        savemat(path, {"coeff_3dmm": torch.cat([exp, pose], dim=1).cpu().numpy()})
        return path
'''

FACERENDER_BATCH = '''
import os
import numpy as np
import torch
from PIL import Image
from scipy.io import loadmat
from src.utils.standin_log import record


def _angles(points, frame_num, batch_size):
    values = np.interp(np.linspace(0, 1, frame_num), np.linspace(0, 1, len(points)), points) if len(points) > 1 \\
        else np.full(frame_num, float(points[0]))
    values = np.concatenate([values, np.repeat(values[-1:], (-frame_num) % batch_size)])
    return torch.FloatTensor(values.reshape(batch_size, -1))


def get_facerender_data(coeff_path, pic_path, first_coeff_path, audio_path, batch_size, input_yaw_list=None,
                        input_pitch_list=None, input_roll_list=None, expression_scale=1.0, still_mode=False,
                        preprocess='crop', size=256):
    record("get_facerender_data", pic_path=pic_path, audio_path=audio_path, batch_size=batch_size,
           input_yaw_list=input_yaw_list, input_pitch_list=input_pitch_list, input_roll_list=input_roll_list,
           expression_scale=expression_scale, still_mode=still_mode, preprocess=preprocess, size=size)
    image = np.asarray(Image.open(pic_path).convert("RGB").resize((size, size)), np.float32) / 255
    source = torch.FloatTensor(image.transpose(2, 0, 1)).unsqueeze(0).repeat(batch_size, 1, 1, 1)
    source_coeffs = loadmat(first_coeff_path)["coeff_3dmm"][:1, :70]
    generated = loadmat(coeff_path)["coeff_3dmm"][:, :70].copy()
    generated[:, :64] *= expression_scale
    if still_mode:
        generated[:, 64:] = source_coeffs[:, 64:]
    frame_num = generated.shape[0]
    padded = np.concatenate([generated, np.repeat(generated[-1:], (-frame_num) % batch_size, axis=0)])
    data = {"source_image": source, "source_semantics": torch.FloatTensor(source_coeffs),
            "target_semantics_list": torch.FloatTensor(padded.reshape(batch_size, -1, 70)),
            "frame_num": frame_num, "video_name": os.path.splitext(os.path.basename(coeff_path))[0],
            "audio_path": audio_path}
    for name, points in (("yaw", input_yaw_list), ("pitch", input_pitch_list), ("roll", input_roll_list)):
        if points is not None:
            data[name + "_c_seq"] = _angles(points, frame_num, batch_size)
    return data
'''

ANIMATE = '''
import math
import os
import shutil
import subprocess
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from safetensors.torch import load_file
from src.utils.standin_log import record, fail_mode
from src.utils.standin_nets import FaceRenderer, Mapping


class AnimateFromCoeff():
    def __init__(self, sadtalker_path, device):
        record("AnimateFromCoeff.__init__", device=device, facerender_yaml=os.path.basename(sadtalker_path["facerender_yaml"]))
        with open(sadtalker_path["facerender_yaml"]) as handle:
            yaml.safe_load(handle)
        weights = load_file(sadtalker_path["checkpoint"])
        self.generator = FaceRenderer().to(device).eval()
        self.generator.load_state_dict({k[len("generator."):]: v for k, v in weights.items() if k.startswith("generator.")})
        self.mapping = Mapping().to(device).eval()
        self.mapping.load_state_dict(torch.load(sadtalker_path["mappingnet_checkpoint"])["mapping"])
        self.device = device

    def generate(self, x, video_save_dir, pic_path, crop_info, enhancer=None, background_enhancer=None,
                 preprocess='crop', img_size=256):
        record("AnimateFromCoeff.generate", pic_path=pic_path, enhancer=enhancer, preprocess=preprocess,
               img_size=img_size, batch_size=int(x["source_image"].shape[0]), frame_num=int(x["frame_num"]),
               autocast=torch.is_autocast_enabled(), roll=("roll_c_seq" in x))
        if fail_mode() == "oom":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        frame_num = x["frame_num"]
        source = x["source_image"][:1].to(self.device)
        coeffs = x["target_semantics_list"].reshape(-1, 70)[:frame_num].to(self.device)
        roll = x["roll_c_seq"].reshape(-1)[:frame_num] if "roll_c_seq" in x else torch.zeros(frame_num)
        if "full" in preprocess:
            width, height = Image.open(pic_path).size
        else:
            width, height = img_size, int(img_size * crop_info[0][1] / crop_info[0][0])
        width, height = width // 2 * 2, height // 2 * 2
        name = x["video_name"]
        audio_name = os.path.splitext(os.path.basename(x["audio_path"]))[0]
        new_audio = os.path.join(video_save_dir, audio_name + ".wav")
        shutil.copyfile(x["audio_path"], new_audio)  # SadTalker re-exports the speech here, then deletes it
        path = os.path.join(video_save_dir, name + ("_full.mp4" if "full" in preprocess else ".mp4"))
        import imageio_ffmpeg
        encoder = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "%dx%d" % (width, height), "-r", "25",
                                    "-i", "pipe:0", "-i", new_audio, "-shortest", "-c:v", "libx264", "-preset",
                                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path], stdin=subprocess.PIPE)
        with torch.no_grad():
            for index in range(frame_num):
                frame = self.generator(source, coeffs[index:index + 1])
                angle = math.radians(float(roll[index]))
                theta = torch.tensor([[[math.cos(angle), -math.sin(angle), 0.0],
                                       [math.sin(angle), math.cos(angle), 0.0]]], device=frame.device)
                grid = F.affine_grid(theta, frame.shape, align_corners=False)
                frame = F.grid_sample(frame.float(), grid.float(), align_corners=False)
                frame = F.interpolate(frame, size=(height, width), mode="bilinear", align_corners=False)
                pixels = (frame[0].permute(1, 2, 0).clamp(0, 1) * 255).byte().cpu().numpy()
                encoder.stdin.write(np.ascontiguousarray(pixels).tobytes())
        encoder.stdin.close()
        assert encoder.wait() == 0
        os.remove(new_audio)
        for given in (pic_path, x["audio_path"]):  # as the demo's SadTalker.test: its inputs are moved away
            if os.path.exists(given):
                shutil.move(given, os.path.join(video_save_dir, "consumed-" + os.path.basename(given)))
        return path
'''

MODULES = {
    "src/utils/standin_log.py": LOG_HELPER,
    "src/utils/standin_nets.py": NETS,
    "src/utils/init_path.py": INIT_PATH,
    "src/utils/preprocess.py": PREPROCESS,
    "src/generate_batch.py": GENERATE_BATCH,
    "src/test_audio2coeff.py": AUDIO2COEFF,
    "src/generate_facerender_batch.py": FACERENDER_BATCH,
    "src/facerender/animate.py": ANIMATE,
}


def build_checkout(root: Path, *, sizes: tuple[int, ...] = (256, 512), checkpoints: bool = True,
                   face_weights: bool = True, seed: int = 0) -> Path:
    """Write a stand-in SadTalker checkout into ``root`` (see the module docstring) and return it."""
    import importlib.util
    import sys

    root = Path(root)
    for relative, source in MODULES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    config = root / "src" / "config"
    config.mkdir(parents=True, exist_ok=True)
    for name in ("facerender.yaml", "facerender_still.yaml"):
        (config / name).write_text("model_params:\n  common_params: {num_kp: 15}\n")
    (root / "requirements.txt").write_text("# stand-in\n")
    # the networks are defined in the stand-in itself: import that file to make their weights
    spec = importlib.util.spec_from_file_location("sadtalker_standin_nets", root / "src/utils/standin_nets.py")
    nets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nets)
    sys.modules.pop("sadtalker_standin_nets", None)
    torch.manual_seed(seed)
    if checkpoints:
        (root / "checkpoints").mkdir(exist_ok=True)
        weights = {}
        for prefix, net in (("face_3drecon.", nets.FaceRecon()), ("audio2exp.", nets.Audio2ExpNet()),
                            ("audio2pose.", nets.Audio2PoseNet()), ("generator.", nets.FaceRenderer())):
            weights.update({prefix + key: value.contiguous() for key, value in net.state_dict().items()})
        for size in sizes:
            save_file(weights, str(root / "checkpoints" / f"SadTalker_V0.0.2_{size}.safetensors"))
        for name in ("mapping_00109-model.pth.tar", "mapping_00229-model.pth.tar"):
            torch.save({"mapping": nets.Mapping().state_dict(), "epoch": 1}, root / "checkpoints" / name)
    if face_weights:
        (root / "gfpgan" / "weights").mkdir(parents=True, exist_ok=True)
        for name in ("detection_Resnet50_Final.pth", "alignment_WFLW_4HG.pth"):
            torch.save({"state_dict": nets.Detector().state_dict()}, root / "gfpgan" / "weights" / name)
    return root


def calls(root: Path, name: str | None = None) -> list[dict]:
    """What the stand-in was called with, oldest first (only calls named ``name`` if given)."""
    log = Path(root) / "calls.jsonl"
    found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [call for call in found if name is None or call["call"] == name]


def set_failure(root: Path, mode: str | None) -> None:
    """Make the stand-in fail: "oom" (face renderer out of GPU memory), "landmark" (no landmarks)."""
    marker = Path(root) / "standin-fail"
    if mode:
        marker.write_text(mode)
    else:
        marker.unlink(missing_ok=True)
