# ruff: noqa: E501
"""The 41 vehicle blueprints of CARLA 0.9.16 (``MakeVehicleDefinition``).

Half extents are the ``vehicle.bounding_box.extent`` values the UE4 server reports; the box is
centred at half height over the actor origin. Colours and driver ids are approximate: the
real lists live in the unreleased content blueprints.
"""

from __future__ import annotations

from typing import NamedTuple

from carla_lite.physics.params import VehicleParams

from .model import (
    AttributeType,
    Blueprint,
    base_variations,
    box,
    const,
    tags_of,
    var,
)

__all__ = ["VEHICLES", "VehicleRow", "vehicle_blueprints"]

# Recommended colour palettes ("r,g,b"), first one is the default.
_SEDAN = ("17,37,103", "0,0,0", "255,255,255", "128,128,128", "188,0,0", "38,38,38", "215,215,215")
_COMPACT = ("168,0,27", "255,255,255", "0,0,0", "43,112,178", "248,192,0", "128,128,128")
_SPORT = ("255,0,0", "0,0,0", "255,255,255", "255,168,0", "0,93,196", "30,30,30")
_SUV = ("45,45,45", "255,255,255", "91,91,91", "140,110,60", "0,55,100")
_VAN = ("255,255,255", "0,0,0", "200,200,200", "18,72,136", "220,120,0")
_TWO_WHEEL = ("255,0,0", "0,0,0", "255,255,255", "0,120,200", "230,180,0")


class VehicleRow(NamedTuple):
    """One vehicle: id, class and generation, half extents, and the content flags."""

    id: str
    base_type: str  # car / truck / van / bus / motorcycle / bicycle
    generation: int
    extent: tuple[float, float, float]
    special_type: str = ""  # electric / emergency / taxi
    doors: bool = False  # has_dynamic_doors
    lights: bool = False  # has_lights
    wheels: int = 4
    colors: tuple[str, ...] = ()  # no ``color`` attribute when empty
    drivers: tuple[str, ...] = ()  # ``driver_id`` values (two-wheelers)


_D = ("0", "1", "2")  # driver ids of the two-wheelers

# fmt: off
VEHICLES: tuple[VehicleRow, ...] = (
    # --- generation 1 cars ---
    VehicleRow("vehicle.audi.a2", "car", 1, (1.8527, 0.8943, 0.7745), colors=_COMPACT),
    VehicleRow("vehicle.audi.etron", "car", 1, (2.4279, 1.0164, 0.8247), "electric", lights=True, colors=_SUV),
    VehicleRow("vehicle.audi.tt", "car", 1, (2.0906, 0.9971, 0.6926), lights=True, colors=_SPORT),
    VehicleRow("vehicle.bmw.grandtourer", "car", 1, (2.3055, 1.1209, 0.8336), colors=_SEDAN),
    VehicleRow("vehicle.chevrolet.impala", "car", 1, (2.6787, 1.0166, 0.7053), lights=True, colors=_SEDAN),
    VehicleRow("vehicle.citroen.c3", "car", 1, (1.9938, 0.9254, 0.8086), colors=_COMPACT),
    VehicleRow("vehicle.dodge.charger_police", "car", 1, (2.4871, 1.0192, 0.7711), "emergency", lights=True, colors=("0,0,0", "255,255,255")),
    VehicleRow("vehicle.ford.mustang", "car", 1, (2.3588, 0.9474, 0.6505), lights=True, colors=_SPORT),
    VehicleRow("vehicle.jeep.wrangler_rubicon", "car", 1, (1.9331, 0.9526, 0.9390), colors=_SUV),
    VehicleRow("vehicle.lincoln.mkz_2017", "car", 1, (2.4508, 1.0642, 0.7554), lights=True, colors=_SEDAN),
    VehicleRow("vehicle.mercedes.coupe", "car", 1, (2.5134, 1.0758, 0.8253), lights=True, colors=_SPORT),
    VehicleRow("vehicle.micro.microlino", "car", 1, (1.1036, 0.7405, 0.6880), "electric", colors=_COMPACT),
    VehicleRow("vehicle.mini.cooper_s", "car", 1, (1.9029, 0.9851, 0.7375), colors=_COMPACT),
    VehicleRow("vehicle.nissan.micra", "car", 1, (1.8167, 0.9226, 0.7506), colors=_COMPACT),
    VehicleRow("vehicle.nissan.patrol", "car", 1, (2.3023, 0.9658, 0.9274), colors=_SUV),
    VehicleRow("vehicle.seat.leon", "car", 1, (2.0964, 0.9081, 0.7369), colors=_COMPACT),
    VehicleRow("vehicle.tesla.model3", "car", 1, (2.3959, 1.0817, 0.7442), "electric", lights=True, colors=_SEDAN),
    VehicleRow("vehicle.toyota.prius", "car", 1, (2.2568, 1.0034, 0.7624), "electric", colors=_COMPACT),
    # --- generation 1 trucks and vans ---
    VehicleRow("vehicle.carlamotors.carlacola", "truck", 1, (2.6019, 1.3135, 1.2337)),
    VehicleRow("vehicle.volkswagen.t2", "van", 1, (2.2402, 1.0347, 1.0189), colors=_VAN),
    # --- generation 1 motorcycles ---
    VehicleRow("vehicle.harley-davidson.low_rider", "motorcycle", 1, (1.1779, 0.3818, 0.6383), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    VehicleRow("vehicle.kawasaki.ninja", "motorcycle", 1, (1.0167, 0.4013, 0.5727), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    VehicleRow("vehicle.vespa.zx125", "motorcycle", 1, (0.9023, 0.4278, 0.6178), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    VehicleRow("vehicle.yamaha.yzf", "motorcycle", 1, (1.1047, 0.4335, 0.6256), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    # --- generation 1 bicycles ---
    VehicleRow("vehicle.bh.crossbike", "bicycle", 1, (0.7436, 0.4296, 0.5398), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    VehicleRow("vehicle.diamondback.century", "bicycle", 1, (0.8214, 0.1863, 0.5980), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    VehicleRow("vehicle.gazelle.omafiets", "bicycle", 1, (0.9177, 0.1645, 0.5857), wheels=2, colors=_TWO_WHEEL, drivers=_D),
    # --- generation 2 cars ---
    VehicleRow("vehicle.dodge.charger_2020", "car", 2, (2.5030, 1.0485, 0.7674), doors=True, lights=True, colors=_SPORT),
    VehicleRow("vehicle.dodge.charger_police_2020", "car", 2, (2.6188, 1.0485, 0.8192), "emergency", doors=True, lights=True),
    VehicleRow("vehicle.ford.crown", "car", 2, (2.6828, 0.9732, 0.7875), "taxi", doors=True, lights=True),
    VehicleRow("vehicle.lincoln.mkz_2020", "car", 2, (2.4462, 1.1153, 0.7401), doors=True, lights=True, colors=_SEDAN),
    VehicleRow("vehicle.mercedes.coupe_2020", "car", 2, (2.3368, 1.0011, 0.7210), doors=True, lights=True, colors=_SPORT),
    VehicleRow("vehicle.mini.cooper_s_2021", "car", 2, (2.2763, 1.0485, 0.8836), doors=True, lights=True, colors=_COMPACT),
    VehicleRow("vehicle.nissan.patrol_2021", "car", 2, (2.7829, 1.0750, 1.0226), doors=True, lights=True, colors=_SUV),
    # --- generation 2 trucks, vans and bus ---
    VehicleRow("vehicle.carlamotors.european_hgv", "truck", 2, (3.9600, 1.4300, 1.8900), lights=True, wheels=6),
    VehicleRow("vehicle.carlamotors.firetruck", "truck", 2, (4.2340, 1.4455, 1.9137), "emergency", lights=True),
    VehicleRow("vehicle.tesla.cybertruck", "truck", 2, (3.1368, 1.1948, 1.0491), "electric"),
    VehicleRow("vehicle.ford.ambulance", "van", 2, (3.1828, 1.1756, 1.2157), "emergency", doors=True, lights=True),
    VehicleRow("vehicle.mercedes.sprinter", "van", 2, (2.9576, 0.9942, 1.2803), doors=True, lights=True, colors=_VAN),
    VehicleRow("vehicle.volkswagen.t2_2021", "van", 2, (2.2211, 0.9389, 0.9936), doors=True, lights=True, colors=_VAN),
    VehicleRow("vehicle.mitsubishi.fusorosa", "bus", 2, (5.0900, 1.9600, 2.0600), doors=True, lights=True),
)
# fmt: on

# CityScapes label ids (0.9.14+): Car=14, Truck=15, Bus=16, Motorcycle=18, Bicycle=19.
_SEMANTIC = {"car": 14, "van": 14, "truck": 15, "bus": 16, "motorcycle": 18, "bicycle": 19}

# base_type -> (wheelbase / half length, steer, accel, brake, top speed, reverse, drag, roll, mass)
_CLASS_LIMITS: dict[str, tuple[float, ...]] = {
    "car": (1.20, 70.0, 3.5, 9.0, 50.0, 8.0, 0.00040, 0.15, 1600.0),
    "van": (1.15, 70.0, 2.5, 8.0, 40.0, 6.0, 0.00055, 0.18, 2800.0),
    "truck": (1.10, 50.0, 1.6, 6.5, 30.0, 4.0, 0.00070, 0.25, 12000.0),
    "bus": (1.20, 50.0, 1.3, 6.0, 27.0, 4.0, 0.00080, 0.25, 12000.0),
    "motorcycle": (1.30, 45.0, 5.0, 9.0, 55.0, 3.0, 0.00050, 0.12, 250.0),
    "bicycle": (1.35, 45.0, 1.5, 5.0, 12.0, 2.0, 0.00090, 0.10, 90.0),
}

_CYBERTRUCK_MASS = 3100.0  # a pick-up, not a lorry


def _params(row: VehicleRow) -> VehicleParams:
    ratio, steer, accel, brake, vmax, vrev, drag, roll, mass = _CLASS_LIMITS[row.base_type]
    if row.id == "vehicle.tesla.cybertruck":
        accel, vmax, mass = 3.0, 50.0, _CYBERTRUCK_MASS
    return VehicleParams(
        wheelbase=round(ratio * row.extent[0], 3),
        max_steer_deg=steer,
        max_accel=accel,
        max_brake_decel=brake,
        max_speed=vmax,
        max_reverse_speed=vrev,
        drag=drag,
        rolling_resistance=roll,
        mass=mass,
    )


def _blueprint(row: VehicleRow) -> Blueprint:
    t = AttributeType
    attrs = base_variations(row.id, ("autopilot", "scenario", "ego_vehicle"))
    if row.colors:
        attrs.append(var("color", t.RGBColor, *row.colors))
    if row.drivers:
        attrs.append(var("driver_id", t.Int, *row.drivers, restrict=True))
    attrs += [
        var("sticky_control", t.Bool, "true"),
        var("terramechanics", t.Bool, "false"),
        const("object_type", t.String, ""),
        const("base_type", t.String, row.base_type),
        const("special_type", t.String, row.special_type),
        const("number_of_wheels", t.Int, str(row.wheels)),
        const("generation", t.Int, str(row.generation)),
        const("has_dynamic_doors", t.Bool, "true" if row.doors else "false"),
        const("has_lights", t.Bool, "true" if row.lights else "false"),
    ]
    return Blueprint(
        id=row.id,
        tags=tags_of(row.id),
        attributes=tuple(attrs),
        semantic_tag=_SEMANTIC[row.base_type],
        bounding_box=box(*row.extent),
        vehicle_params=_params(row),
    )


def vehicle_blueprints() -> list[Blueprint]:
    """Build every vehicle blueprint, in table order."""
    return [_blueprint(row) for row in VEHICLES]
