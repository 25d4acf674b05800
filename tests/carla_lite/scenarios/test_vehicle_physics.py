"""Vehicle physics through the official client: physics control, forces, torques, constant
velocity, and the GNSS and IMU sensors on a car."""

from __future__ import annotations

import math
import textwrap

import pytest

from tests.conftest import ServerProcess, run_client

PRELUDE = """
world = client.get_world()
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
lib = world.get_blueprint_library()
spawns = world.get_map().get_spawn_points()

def spawn(i, bp='vehicle.tesla.model3'):
    car = world.spawn_actor(lib.find(bp), spawns[i])
    world.tick()
    return car

def speed(car):
    return car.get_velocity().length()

def forward_speed(car):
    v, f = car.get_velocity(), car.get_transform().get_forward_vector()
    return v.x * f.x + v.y * f.y
"""


def _scenario(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def test_physics_control_round_trips_and_mass_slows_the_car(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _scenario(
            """
        a, b = spawn(0), spawn(5)
        pc = a.get_physics_control()
        result['default'] = {
            'mass': pc.mass, 'max_rpm': pc.max_rpm, 'drag': pc.drag_coefficient,
            'gears': [g.ratio for g in pc.forward_gears],
            'torque': [[p.x, p.y] for p in pc.torque_curve],
            'steer': [w.max_steer_angle for w in pc.wheels],
            'radius': [w.radius for w in pc.wheels],
            'brake': [w.max_brake_torque for w in pc.wheels],
            'hand': [w.max_handbrake_torque for w in pc.wheels],
            'friction': [w.tire_friction for w in pc.wheels],
            'position': [[w.position.x, w.position.y, w.position.z] for w in pc.wheels],
            'autobox': pc.use_gear_autobox, 'steering_curve': len(pc.steering_curve),
        }
        loc = a.get_location()
        result['car'] = [loc.x, loc.y, loc.z]
        heavy = b.get_physics_control()
        heavy.mass = 2.0 * heavy.mass
        heavy.drag_coefficient = 0.5
        wheels = heavy.wheels
        wheels[0].max_steer_angle = 35.0
        wheels[1].max_steer_angle = 35.0
        heavy.wheels = wheels
        b.apply_physics_control(heavy)
        back = b.get_physics_control()
        result['applied'] = [back.mass, back.drag_coefficient, back.wheels[0].max_steer_angle,
                             back.wheels[2].max_steer_angle]
        for car in (a, b):
            car.apply_control(carla.VehicleControl(throttle=1.0))
        for _ in range(40):
            world.tick()
        result['speeds'] = [speed(a), speed(b)]
        bad = a.get_physics_control()
        bad.mass = -5.0
        a.apply_physics_control(bad)  # sent without waiting for an answer, as in CARLA
        result['after_bad'] = a.get_physics_control().mass
        """
        ),
    )
    d = result["default"]
    assert 1000.0 < d["mass"] < 2500.0
    assert d["max_rpm"] > 1000.0 and 0.1 < d["drag"] < 1.0 and d["autobox"] is True
    assert len(d["gears"]) >= 4 and d["gears"] == sorted(d["gears"], reverse=True)
    assert max(t for _rpm, t in d["torque"]) > 100.0
    assert d["steer"][0] == d["steer"][1] > 30.0 and d["steer"][2] == d["steer"][3] == 0.0
    assert all(20.0 < r < 60.0 for r in d["radius"])  # centimetres
    assert all(b > 100.0 for b in d["brake"]) and d["hand"][0] == 0.0 < d["hand"][2]
    assert all(f > 0.0 for f in d["friction"]) and d["steering_curve"] >= 2
    # Wheel positions: world centimetres around the car (read-only, as in CARLA).
    x, y, _z = result["car"]
    for wx, wy, _wz in d["position"]:
        assert math.hypot(wx / 100.0 - x, wy / 100.0 - y) < 2.5
    mass, drag, front, rear = result["applied"]
    assert mass == 2.0 * d["mass"] and abs(drag - 0.5) < 1e-6 and front == 35.0 and rear == 0.0
    light, heavy = result["speeds"]
    assert light > 5.0 and heavy < 0.7 * light, "twice the mass accelerates about half as fast"
    assert "apply_physics_control refused" in server.log() and "mass=-5.0" in server.log()
    assert result["after_bad"] == d["mass"], "a refused control changes nothing"


def test_forces_impulses_and_torques_push_the_right_way(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _scenario(
            """
        car = spawn(0)
        f = car.get_transform().get_forward_vector()
        mass = car.get_physics_control().mass
        car.add_impulse(carla.Vector3D(f.x, f.y, 0.0) * (3.0 * mass))
        world.tick()
        result['impulse'] = forward_speed(car)
        car.add_impulse(carla.Vector3D(-f.x, -f.y, 0.0) * (3.0 * mass))
        for _ in range(2):
            world.tick()
        result['back'] = forward_speed(car)
        for _ in range(10):
            car.add_force(carla.Vector3D(f.x, f.y, 0.0) * (2.0 * mass))
            world.tick()
        result['force'] = forward_speed(car)
        other = spawn(8)
        yaw0 = other.get_transform().rotation.yaw
        other.add_angular_impulse(carla.Vector3D(0.0, 0.0, 4.0e8))
        world.tick()
        result['spin'] = other.get_angular_velocity().z
        for _ in range(5):
            world.tick()
        result['turned'] = (other.get_transform().rotation.yaw - yaw0 + 180.0) % 360.0 - 180.0
        third = spawn(12)
        for _ in range(5):
            third.add_torque(carla.Vector3D(0.0, 0.0, -4.0e9))
            world.tick()
        result['torque'] = third.get_angular_velocity().z
        light = third.get_physics_control()
        light.mass = 1000.0
        by_batch = carla.command.ApplyVehiclePhysicsControl()
        by_batch.actor_id = third.id
        by_batch.physics_control = light
        batch = client.apply_batch_sync([
            by_batch,
            carla.command.ApplyForce(car.id, carla.Vector3D(0, 0, 0)),
            carla.command.ApplyAngularImpulse(other.id, carla.Vector3D(0, 0, 1.0)),
            carla.command.ApplyTorque(third.id, carla.Vector3D(0, 0, 1.0)),
        ])
        result['batch_errors'] = [r.error for r in batch if r.has_error()]
        result['batch_mass'] = third.get_physics_control().mass
        third.apply_control(carla.VehicleControl(steer=1.0))
        for _ in range(10):
            world.tick()
        wheels = carla.VehicleWheelLocation
        result['wheel_angles'] = [
            third.get_wheel_steer_angle(w) for w in (wheels.FL_Wheel, wheels.BR_Wheel)
        ]
        """
        ),
    )
    assert 2.5 < result["impulse"] < 3.1, "3 m/s from an impulse of 3 x mass"
    assert abs(result["back"]) < 0.3, "the opposite impulse cancels it"
    assert result["force"] > 0.5, "2 x mass newtons for 0.5 s"
    assert result["spin"] > 5.0, "a positive angular impulse about z turns right (yaw grows)"
    assert result["turned"] > 0.5
    assert result["torque"] < -5.0, "a negative torque turns left"
    assert result["batch_errors"] == []
    assert result["batch_mass"] == 1000.0
    front, rear = result["wheel_angles"]
    assert front > 30.0 and rear == 0.0, "full right lock shows on the front wheels"


def test_constant_velocity_holds_until_disabled(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _scenario(
            """
        car = spawn(0)
        car.enable_constant_velocity(carla.Vector3D(6.0, 0.0, 0.0))
        car.apply_control(carla.VehicleControl(brake=1.0))
        speeds = []
        start = car.get_location()
        for _ in range(50):
            world.tick()
            speeds.append(forward_speed(car))
        result['held'] = speeds
        result['travelled'] = car.get_location().distance(start)
        car.disable_constant_velocity()
        for _ in range(20):
            world.tick()
        result['after'] = forward_speed(car)
        """
        ),
    )
    held = result["held"]
    assert all(abs(v - 6.0) < 1e-3 for v in held), "brakes do not slow a constant velocity"
    assert abs(result["travelled"] - 50 * 0.05 * 6.0) < 0.5
    assert result["after"] < 1.0, "once disabled, the brake stops the car"


def test_gnss_follows_the_car_and_imu_reads_gravity(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _scenario(
            """
        car = spawn(0)
        m = world.get_map()
        gnss = world.spawn_actor(lib.find('sensor.other.gnss'), carla.Transform(), attach_to=car)
        imu = world.spawn_actor(lib.find('sensor.other.imu'), carla.Transform(), attach_to=car)
        fixes, imus = queue.Queue(), queue.Queue()
        gnss.listen(fixes.put)
        imu.listen(imus.put)
        def latest(q, frame):
            for _ in range(500):
                item = q.get(timeout=5.0)
                if item.frame == frame:
                    return item
            raise RuntimeError('no data for frame %d' % frame)
        frame = world.tick()
        first = latest(fixes, frame)
        rest = latest(imus, frame)
        loc = gnss.get_location()
        expected = m.transform_to_geolocation(loc)
        result['first'] = [first.latitude, first.longitude, first.altitude]
        result['expected'] = [expected.latitude, expected.longitude, expected.altitude]
        result['rest'] = [rest.accelerometer.x, rest.accelerometer.y, rest.accelerometer.z]
        yaw = car.get_transform().rotation.yaw
        result['compass'] = [rest.compass, math.radians(yaw + 90.0) % (2 * math.pi)]
        car.apply_control(carla.VehicleControl(throttle=1.0))
        for _ in range(40):
            frame = world.tick()
        last = latest(fixes, frame)
        drive = latest(imus, frame)
        loc = gnss.get_location()
        expected = m.transform_to_geolocation(loc)
        result['last'] = [last.latitude, last.longitude]
        result['expected_last'] = [expected.latitude, expected.longitude]
        result['drive_ax'] = drive.accelerometer.x
        car.apply_control(carla.VehicleControl(brake=1.0))
        for _ in range(60):
            world.tick()
        world.set_imui_sensor_gravity(3.7)
        result['gravity_setting'] = world.get_imui_sensor_gravity()
        frame = world.tick()
        result['mars'] = latest(imus, frame).accelerometer.z
        gnss.stop()
        imu.stop()
        """
        ),
    )
    first, expected = result["first"], result["expected"]
    assert all(abs(a - b) < 1e-7 for a, b in zip(first, expected[:2], strict=False))
    assert abs(first[2] - expected[2]) < 1e-3
    last, expected_last = result["last"], result["expected_last"]
    assert all(abs(a - b) < 1e-7 for a, b in zip(last, expected_last, strict=True))
    moved = math.hypot(last[0] - first[0], last[1] - first[1])
    assert moved > 5e-5, "40 ticks of full throttle move the fix by metres"
    ax, ay, az = result["rest"]
    assert abs(az - 9.81) < 0.05 and abs(ax) < 0.05 and abs(ay) < 0.05
    compass, want = result["compass"]
    assert abs((compass - want + math.pi) % (2 * math.pi) - math.pi) < 1e-3
    assert result["drive_ax"] > 0.5, "throttle pushes the accelerometer forward"
    assert abs(result["gravity_setting"] - 3.7) < 1e-6
    assert abs(result["mars"] - 3.7) < 0.05


def test_ackermann_control_telemetry_and_cosimulation_calls(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _scenario(
            """
            car = spawn(0)
            gains = car.get_ackermann_controller_settings()
            result['default_gains'] = [gains.speed_kp, gains.speed_kd, gains.accel_kp]
            car.apply_ackermann_controller_settings(
                carla.AckermannControllerSettings(0.3, 0.1, 0.2, 0.02, 0.0, 0.03))
            gains = car.get_ackermann_controller_settings()
            result['gains'] = [gains.speed_kp, gains.speed_ki, gains.accel_kd]
            car.apply_ackermann_control(
                carla.VehicleAckermannControl(steer=0.0, speed=4.0, acceleration=2.0))
            for _ in range(20):
                world.tick()
            result['one_second'] = forward_speed(car)
            for _ in range(40):
                world.tick()
            result['settled'] = forward_speed(car)
            t = car.get_telemetry_data()
            result['telemetry'] = {
                'speed': t.speed, 'gear': t.gear, 'rpm': t.engine_rpm,
                'wheels': len(t.wheels), 'omega': t.wheels[0].omega,
                'load': t.wheels[0].tire_load,
            }
            result['mass'] = car.get_physics_control().mass
            wheels = carla.VehicleWheelLocation
            pitch = [car.get_wheel_pitch_angle(wheels.FL_Wheel)]
            world.tick()
            pitch.append(car.get_wheel_pitch_angle(wheels.FL_Wheel))
            car.set_wheel_pitch_angle(wheels.BR_Wheel, 33.0)
            pitch.append(car.get_wheel_pitch_angle(wheels.BR_Wheel))
            result['pitch'] = pitch
            result['radius'] = car.get_physics_control().wheels[0].radius
            car.apply_ackermann_control(carla.VehicleAckermannControl(steer=0.3, speed=4.0))
            for _ in range(10):
                world.tick()
            result['yaw_rate'] = car.get_angular_velocity().z
            batch = client.apply_batch_sync(
                [carla.command.ApplyVehicleAckermannControl(
                    car.id, carla.VehicleAckermannControl(speed=0.0))])
            result['batch_errors'] = [r.error for r in batch if r.has_error()]
            for _ in range(40):
                world.tick()
            result['stopped'] = forward_speed(car)
            car.enable_carsim('')
            car.restore_physx_physics()
            world.tick()
            result['alive'] = car.is_alive
            """
        ),
    )
    assert result["default_gains"] == pytest.approx([0.15, 0.25, 0.01])  # float32 on the wire
    assert result["gains"] == pytest.approx([0.3, 0.1, 0.03])
    assert abs(result["one_second"] - 2.0) < 0.15, "2 m/s^2 for one second"
    assert abs(result["settled"] - 4.0) < 0.05
    t = result["telemetry"]
    assert abs(t["speed"] - 4.0) < 0.05 and t["gear"] >= 1 and t["rpm"] > 100.0
    assert t["wheels"] == 4 and t["omega"] > 5.0
    assert abs(t["load"] - result["mass"] * 9.81 / 4) < 1.0
    assert result["yaw_rate"] > 5.0, "a positive Ackermann steer turns right"
    before, after, set_back = result["pitch"]
    turned = (before - after) % 360.0  # rolling forward turns the wheel nose-down
    expected = math.degrees(4.0 * 0.05 / (result["radius"] / 100.0))
    assert abs(turned - expected) < 1.0
    assert abs(set_back - 33.0) < 1e-3
    assert result["batch_errors"] == []
    assert abs(result["stopped"]) < 0.05
    assert result["alive"]
    assert "enable_carsim: carla_lite has no CarSim co-simulation" in server.log()
