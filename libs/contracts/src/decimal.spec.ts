import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDecimal,
  compareDecimal,
  decimalFromNumber,
  decimalFromUnits,
  decimalToUnits,
  isDecimalString,
  mulDecimal,
  subDecimal,
  sumDecimals,
} from './decimal';

describe('decimal strings', () => {
  it('given amounts that floats get wrong when added then the sum is exact', () => {
    assert.equal(addDecimal('0.1', '0.2'), '0.3');
    assert.equal(sumDecimals(Array.from({ length: 1000 }, () => '0.001')), '1');
    assert.equal(addDecimal('0.000000001', '0.999999999'), '1');
  });

  it('given a subtraction below zero then the result is negative and canonical', () => {
    assert.equal(subDecimal('1', '1.25'), '-0.25');
    assert.equal(subDecimal('1.50', '0.5'), '1');
  });

  it('given two amounts when compared then trailing zeros do not matter', () => {
    assert.equal(compareDecimal('1.50', '1.5'), 0);
    assert.equal(compareDecimal('0.000000001', '0'), 1);
    assert.equal(compareDecimal('2', '10'), -1);
  });

  it('given tokens × a per-token price then the product is rounded half up to 9 digits', () => {
    assert.equal(mulDecimal('1234', '0.00000015'), '0.0001851');
    assert.equal(mulDecimal('0.000000003', '0.5'), '0.000000002');
    assert.equal(mulDecimal('3', '0.1'), '0.3');
  });

  it('given a float price when converted then it becomes a 9-digit decimal', () => {
    assert.equal(decimalFromNumber(0.1 + 0.2), '0.3');
    assert.equal(decimalFromNumber(2), '2');
  });

  it('given wire values then only non-negative plain decimals with ≤ 9 fraction digits are valid', () => {
    for (const ok of ['0', '1', '10.5', '0.000000001', '123456789.123456789']) assert.equal(isDecimalString(ok), true, ok);
    for (const bad of ['', '-1', '01', '1.', '.5', '1e3', '0.1234567890', ' 1', 1]) assert.equal(isDecimalString(bad), false, String(bad));
  });

  it('given a malformed string when parsed then it throws', () => {
    assert.throws(() => decimalToUnits('abc'), RangeError);
  });

  it('given any operands then addDecimal equals the BigInt sum, small amounts (number path) or not', () => {
    const ref = (a: string, b: string) => decimalFromUnits(decimalToUnits(a) + decimalToUnits(b));
    const edge = ['0', '1', '0.5', '0.000000001', '0.999999999', '999999', '999999.999999999', '1000000', '1000000.000000001', '1.10', '0.000084', '12345678901234567890.5', '-0.25', '-999999'];
    for (const a of edge) for (const b of edge) assert.equal(addDecimal(a, b), ref(a, b), `${a} + ${b}`);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const digits = (n: number) => Array.from({ length: n }, () => String(rnd(10))).join('');
    for (let i = 0; i < 20000; i++) {
      const make = () => {
        const int = rnd(4) === 0 ? '0' : String(1 + rnd(9)) + digits(rnd(9));
        return rnd(3) === 0 ? int : `${int}.${digits(1 + rnd(9))}`;
      };
      const a = make();
      const b = make();
      assert.equal(addDecimal(a, b), ref(a, b), `${a} + ${b}`);
    }
  });

  it('given a malformed operand then addDecimal throws as the BigInt path does', () => {
    for (const bad of ['', '01', '1.', '.5', '1e3', ' 1', '1 ', '0.1234567890', '+1', '１', '1\n', '00.5']) {
      assert.throws(() => addDecimal(bad, '1'), RangeError, JSON.stringify(bad));
      assert.throws(() => addDecimal('1', bad), RangeError, JSON.stringify(bad));
    }
  });
});
