import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDecimal,
  compareDecimal,
  decimalFromNumber,
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
});
