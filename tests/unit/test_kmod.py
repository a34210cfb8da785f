"""LoadModule puts module state back: the module and what came with it (soft
dependencies that `modprobe -r` leaves loaded), never what was there before."""
from __future__ import annotations

from pathlib import Path

from pktlab.host import kmod
from pktlab.host.kmod import LoadModule


class FakeKernel:
    """/proc/modules and /sys/module under a root, changed by a fake modprobe."""

    def __init__(self, root: Path, loaded: dict[str, list[str]]):
        self.root, self.loaded, self.calls = root, dict(loaded), []  # name -> modules using it
        self.write()

    def write(self):
        (self.root / "proc").mkdir(exist_ok=True)
        (self.root / "proc/modules").write_text("".join(
            f"{m} 16384 {len(users)} {','.join(users) or '-'}, Live 0x0\n" for m, users in self.loaded.items()))
        for m in self.loaded:
            (self.root / "sys/module" / m).mkdir(parents=True, exist_ok=True)

    def modprobe(self, argv, what=None, **kw):
        self.calls.append(argv[1:])
        if argv[1] == "-r":
            name = argv[2].replace("-", "_")
            assert not self.loaded[name], f"{name} is in use"
            del self.loaded[name]
            for users in self.loaded.values():
                if name in users:
                    users.remove(name)
            import shutil

            shutil.rmtree(self.root / "sys/module" / name)
            if name == "vfio_pci":  # modprobe -r takes its unused hard dependency, not the soft one
                self.loaded["vfio"].remove("vfio_pci_core")
                del self.loaded["vfio_pci_core"]
        else:  # vfio-pci: hard dependency vfio_pci_core, soft dependency vfio_iommu_type1
            self.loaded.update(vfio=["vfio_iommu_type1", "vfio_pci_core"], vfio_iommu_type1=[],
                               vfio_pci_core=["vfio_pci"], vfio_pci=[])
        self.write()
        return ""


def test_undo_unloads_the_module_and_what_it_brought_and_keeps_what_was_there(tmp_path, monkeypatch):
    k = FakeKernel(tmp_path, {"igb": []})
    monkeypatch.setattr(kmod.process, "run", k.modprobe)
    step = LoadModule("vfio-pci", root=str(tmp_path))
    step.apply(type("Ctx", (), {"journal_state": lambda self: None})())
    assert step.state["also_loaded"] == ["vfio", "vfio_iommu_type1", "vfio_pci_core"]
    step.undo(None)
    assert set(k.loaded) == {"igb"}
    assert k.calls[:2] == [["vfio-pci"], ["-r", "vfio-pci"]] and ["-r", "vfio"] in k.calls


def test_a_module_loaded_before_the_run_is_left_alone(tmp_path, monkeypatch):
    k = FakeKernel(tmp_path, {"vfio_pci": []})
    monkeypatch.setattr(kmod.process, "run", k.modprobe)
    step = LoadModule("vfio-pci", root=str(tmp_path))
    step.apply(type("Ctx", (), {"journal_state": lambda self: None})())
    step.undo(None)
    assert k.calls == [] and "vfio_pci" in k.loaded


def test_a_module_a_daemon_made_the_kernel_load_is_unloaded_after_it(tmp_path, monkeypatch):
    """ovs-vswitchd (DPDK build too) has the kernel load openvswitch: UnloadAutoloaded, put
    before the daemon's start, takes it back out with what came with it, and nothing else."""
    from pktlab.host.kmod import UnloadAutoloaded

    k = FakeKernel(tmp_path, {"igb": []})
    monkeypatch.setattr(kmod.process, "run", k.modprobe)
    step = UnloadAutoloaded("openvswitch", root=str(tmp_path))
    step.apply(type("Ctx", (), {"journal_state": lambda self: None})())
    assert k.calls == []  # it loads nothing itself
    k.loaded.update(openvswitch=[], nf_conncount=["openvswitch"], igb=[])  # the daemon's request
    k.write()
    step.undo(None)
    assert set(k.loaded) == {"igb"}
    assert k.calls[0] == ["-r", "openvswitch"]


def test_autoload_undo_leaves_a_module_that_was_loaded_before(tmp_path, monkeypatch):
    from pktlab.host.kmod import UnloadAutoloaded

    k = FakeKernel(tmp_path, {"openvswitch": []})
    monkeypatch.setattr(kmod.process, "run", k.modprobe)
    step = UnloadAutoloaded("openvswitch", root=str(tmp_path))
    step.apply(type("Ctx", (), {"journal_state": lambda self: None})())
    step.undo(None)
    assert k.calls == [] and "openvswitch" in k.loaded
